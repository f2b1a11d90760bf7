//! §7.9 Policies and §7.10 Metrics: policy CRUD, validation and the rendered `html` with
//! hostile answers, `associatedProjects` of the organization only, list filters, roles and
//! scope, the features `policies` count; metrics over a month boundary, the consent-read
//! counter after its flush, the metrics query, roles and scope.
use crate::both;
use crate::common::*;
use accord_api::respond::Page;
use accord_api::ApiConfig;
use accord_core::auth::Role;
use accord_core::metrics::MetricsItem;
use accord_core::policies::PolicyView;
use accord_core::schema::published;
use accord_core::store::{bootstrap, Bootstrapped};
use reqwest::Method;
use serde_json::Value;
use uuid::Uuid;

both!(
    policies_crud_and_fields,
    policies_html_escapes_hostile_answers,
    policies_bad_input_stores_nothing,
    policies_associated_projects_of_the_organization,
    policies_list_filters_and_sort,
    policies_roles_and_scope,
    policies_features_count,
    metrics_months_and_counts,
    metrics_read_counter_after_flush,
    metrics_query_rules,
    metrics_roles_and_scope,
);

fn policies_path(s: &Server) -> String {
    format!("/privacy-v1/organizations/{}/policies", s.org)
}

fn body(s: &Server) -> Value {
    json!({
        "type": "privacyPolicy",
        "name": "Privacy notice",
        "status": "draft",
        "organizationId": s.org,
        "answers": [{"questionId": "controller", "answer": "Acme Ltd\nLondon"}],
    })
}

async fn create(s: &Server, body: Value) -> Value {
    let (status, p) = s.post(&policies_path(s), body).await;
    assert_eq!(status, 201, "{p}");
    check_schema(&published::<PolicyView>(), &p, "policy").unwrap();
    p
}

async fn policy_count(s: &Server) -> i64 {
    let (status, page) = s.get(&format!("{}?limit=1", policies_path(s))).await;
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

/// Create with defaults, get, list, PATCH (html regenerated, `""` clears description),
/// delete answering the deleted policy.
async fn policies_crud_and_fields(b: accord_store::Backend) {
    let s = start(b).await;
    let p = create(&s, body(&s)).await;
    assert_eq!(p["type"], "privacyPolicy");
    assert_eq!(p["name"], "Privacy notice");
    assert_eq!(p["status"], "draft");
    assert_eq!(p["organizationId"], json!(s.org));
    assert_eq!(p["associatedProjects"], json!([]));
    assert_eq!(p["includeCookies"], false);
    assert!(p.get("description").is_none());
    assert_eq!(p["dateCreated"], p["dateUpdated"]);
    assert_eq!(
        p["html"],
        "<article><h1>Privacy notice</h1><section data-question-id=\"controller\"><p>Acme Ltd</p><p>London</p></section></article>"
    );
    let id = p["id"].as_str().unwrap();
    let one = format!("{}/{id}", policies_path(&s));
    let (status, got) = s.get(&one).await;
    assert_eq!(status, 200);
    assert_eq!(got, p);

    let (status, patched) = s
        .patch(
            &one,
            json!({"name": "AI use", "type": "aiPolicy", "status": "active", "description": "How we use models",
                   "answers": [{"questionId": "q1", "answer": "One"}, {"questionId": "q2", "answer": "Two"}],
                   "associatedProjects": [s.project, s.project], "includeCookies": true}),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    check_schema(&published::<PolicyView>(), &patched, "policy").unwrap();
    assert_eq!(patched["type"], "aiPolicy");
    assert_eq!(patched["status"], "active");
    assert_eq!(patched["description"], "How we use models");
    assert_eq!(patched["associatedProjects"], json!([s.project]));
    assert_eq!(patched["includeCookies"], true);
    assert_eq!(patched["dateCreated"], p["dateCreated"]);
    assert!(patched["dateUpdated"].as_i64() >= p["dateUpdated"].as_i64());
    assert_eq!(
        patched["html"],
        "<article><h1>AI use</h1><section data-question-id=\"q1\"><p>One</p></section><section data-question-id=\"q2\"><p>Two</p></section></article>"
    );
    let (_, cleared) = s.patch(&one, json!({"description": ""})).await;
    assert!(cleared.get("description").is_none(), "{cleared}");
    assert_eq!(cleared["html"], patched["html"]);

    let (status, page) = s.get(&policies_path(&s)).await;
    assert_eq!(status, 200);
    assert_eq!(page["total"], 1);
    assert_eq!(page["items"][0], cleared);

    let (status, deleted) = s.delete(&one).await;
    assert_eq!(status, 200);
    assert_eq!(deleted, cleared);
    assert_error(&s.get(&one).await, 404, "Not Found");
    assert_error(&s.delete(&one).await, 404, "Not Found");
    assert_error(&s.patch(&one, json!({"name": "x"})).await, 404, "Not Found");
    assert_eq!(policy_count(&s).await, 0);
}

/// Every answer, question id and the name are HTML-escaped: markup comes out as text.
async fn policies_html_escapes_hostile_answers(b: accord_store::Backend) {
    let s = start(b).await;
    let mut bd = body(&s);
    bd["name"] = json!("<img src=x onerror=alert(1)>");
    bd["answers"] = json!([
        {"questionId": "\"><script>alert(1)</script>", "answer": "<script>alert('x')</script>\r\n\r\n<b>bold</b> & \"quoted\""},
        {"questionId": "empty", "answer": ""},
    ]);
    let p = create(&s, bd).await;
    let html = p["html"].as_str().unwrap();
    assert_eq!(
        html,
        "<article><h1>&lt;img src=x onerror=alert(1)&gt;</h1>\
         <section data-question-id=\"&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;\">\
         <p>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;</p><p>&lt;b&gt;bold&lt;/b&gt; &amp; &quot;quoted&quot;</p></section>\
         <section data-question-id=\"empty\"></section></article>"
    );
    assert!(!html.contains("<script"));
    assert!(!html.contains("<img"));
    // The answers themselves are kept as given.
    assert_eq!(
        p["answers"][0]["answer"],
        "<script>alert('x')</script>\r\n\r\n<b>bold</b> & \"quoted\""
    );
    // A PATCH of the answers alone renders again.
    let one = format!("{}/{}", policies_path(&s), p["id"].as_str().unwrap());
    let (_, p2) = s
        .patch(
            &one,
            json!({"answers": [{"questionId": "a", "answer": "</section><script>x</script>"}]}),
        )
        .await;
    assert_eq!(
        p2["html"],
        "<article><h1>&lt;img src=x onerror=alert(1)&gt;</h1><section data-question-id=\"a\"><p>&lt;/section&gt;&lt;script&gt;x&lt;/script&gt;</p></section></article>"
    );
}

/// Bad bodies answer the contract's status and message, and store nothing.
async fn policies_bad_input_stores_nothing(b: accord_store::Backend) {
    let s = start(b).await;
    let path = policies_path(&s);
    let with = |k: &str, v: Value| {
        let mut bd = body(&s);
        bd[k] = v;
        bd
    };
    let without = |k: &str| {
        let mut bd = body(&s);
        bd.as_object_mut().unwrap().remove(k);
        bd
    };
    let cases: Vec<(Value, u16, String)> = vec![
        (without("type"), 400, "body must have required property 'type'".into()),
        (without("name"), 400, "body must have required property 'name'".into()),
        (without("status"), 400, "body must have required property 'status'".into()),
        (without("organizationId"), 400, "body must have required property 'organizationId'".into()),
        (without("answers"), 400, "body must have required property 'answers'".into()),
        (with("type", json!("termsOfService")), 400, "body/type must be equal to one of the allowed values: aiPolicy, cookiePolicy, privacyPolicy".into()),
        (with("status", json!("live")), 400, "body/status must be equal to one of the allowed values: active, draft, archived".into()),
        (with("name", json!("")), 400, "body/name must NOT have fewer than 1 characters".into()),
        (with("name", json!("n".repeat(257))), 400, "body/name must NOT have more than 256 characters".into()),
        (with("name", json!(null)), 400, "body/name must be string".into()),
        (with("description", json!("d".repeat(2049))), 400, "body/description must NOT have more than 2048 characters".into()),
        (with("organizationId", json!("nope")), 400, "body/organizationId must match format \"uuid\"".into()),
        (with("answers", json!({})), 400, "body/answers must be array".into()),
        (with("answers", json!([{"questionId": "q"}])), 400, "body/answers/0 must have required property 'answer'".into()),
        (with("answers", json!([{"questionId": "q".repeat(129), "answer": ""}])), 400, "body/answers/0/questionId must NOT have more than 128 characters".into()),
        (with("answers", json!([{"questionId": "q", "answer": "a".repeat(10_001)}])), 400, "body/answers/0/answer must NOT have more than 10000 characters".into()),
        (with("answers", json!([{"questionId": "q", "answer": "a", "x": 1}])), 400, "body/answers/0 must NOT have additional properties: 'x'".into()),
        (with("associatedProjects", json!(["nope"])), 400, "body/associatedProjects/0 must match format \"uuid\"".into()),
        (with("includeCookies", json!("yes")), 400, "body/includeCookies must be boolean".into()),
        (with("html", json!("<p>")), 400, "body must NOT have additional properties: 'html'".into()),
        (with("id", json!(Uuid::now_v7())), 400, "body must NOT have additional properties: 'id'".into()),
        (with("organizationId", json!(Uuid::now_v7())), 422, "organizationId must be the organization of the path".into()),
        (with("associatedProjects", json!([s.project, Uuid::now_v7()])), 422, "associatedProjects/1 not found in this organization".into()),
    ];
    for (bd, status, message) in cases {
        assert_error(&s.post(&path, bd.clone()).await, status, &message);
    }
    let (status, _) = send(
        s.req(Method::POST, &path)
            .body("{")
            .header("content-type", "application/json"),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = send(
        s.req(Method::POST, &path)
            .body("{}")
            .header("content-type", "text/plain"),
    )
    .await;
    assert_eq!(status, 415);
    assert_eq!(policy_count(&s).await, 0);

    // PATCH: the same rules, none required, at least one property; a refusal changes nothing.
    let p = create(&s, body(&s)).await;
    let one = format!("{path}/{}", p["id"].as_str().unwrap());
    assert_error(
        &s.patch(&one, json!({})).await,
        400,
        "body must NOT have fewer than 1 properties",
    );
    assert_error(
        &s.patch(&one, json!({"status": ""})).await,
        400,
        "body/status must be equal to one of the allowed values: active, draft, archived",
    );
    assert_error(
        &s.patch(&one, json!({"name": "x", "organizationId": Uuid::now_v7()}))
            .await,
        422,
        "organizationId must be the organization of the path",
    );
    assert_error(
        &s.patch(
            &one,
            json!({"name": "x", "associatedProjects": [Uuid::now_v7()]}),
        )
        .await,
        422,
        "associatedProjects/0 not found in this organization",
    );
    let missing = format!("{path}/{}", Uuid::now_v7());
    assert_error(
        &s.patch(&missing, json!({"name": 1})).await,
        400,
        "body/name must be string",
    );
    assert_error(
        &s.patch(&missing, json!({"organizationId": Uuid::now_v7()}))
            .await,
        404,
        "Not Found",
    );
    assert_error(
        &s.get(&format!("{path}/nope")).await,
        400,
        "params/policyId must match format \"uuid\"",
    );
    let (_, after) = s.get(&one).await;
    assert_eq!(after, p);
}

/// `associatedProjects` may name only projects of the organization: a project of another
/// organization is refused (422) and nothing is created or changed.
async fn policies_associated_projects_of_the_organization(b: accord_store::Backend) {
    let s = start(b).await;
    let other = other_org(&s).await;
    let (status, second) = s
        .post(
            &format!("/privacy-v1/organizations/{}/projects", s.org),
            json!({"name": "Shop"}),
        )
        .await;
    assert_eq!(status, 201, "{second}");
    let mut bd = body(&s);
    bd["associatedProjects"] = json!([s.project, other.project.id]);
    assert_error(
        &s.post(&policies_path(&s), bd).await,
        422,
        "associatedProjects/1 not found in this organization",
    );
    assert_eq!(policy_count(&s).await, 0);
    let mut bd = body(&s);
    bd["associatedProjects"] = json!([second["id"], s.project]);
    let p = create(&s, bd).await;
    assert_eq!(p["associatedProjects"], json!([second["id"], s.project]));
    let one = format!("{}/{}", policies_path(&s), p["id"].as_str().unwrap());
    assert_error(
        &s.patch(&one, json!({"associatedProjects": [other.project.id]}))
            .await,
        422,
        "associatedProjects/0 not found in this organization",
    );
    let (_, after) = s.get(&one).await;
    assert_eq!(after, p);
    // The other organization sees none of it, and cannot reach it through its own path.
    let theirs = format!(
        "/privacy-v1/organizations/{}/policies",
        other.organization.id
    );
    let (status, page) = send(s.req_as(&other.secret, Method::GET, &theirs)).await;
    assert_eq!(status, 200);
    assert_eq!(page["total"], 0);
    let (status, _) = send(s.req_as(
        &other.secret,
        Method::GET,
        &format!("{theirs}/{}", p["id"].as_str().unwrap()),
    ))
    .await;
    assert_eq!(status, 404);
}

async fn policies_list_filters_and_sort(b: accord_store::Backend) {
    let s = start(b).await;
    let mk = |name: &str, t: &str, st: &str| {
        let mut bd = body(&s);
        bd["name"] = json!(name);
        bd["type"] = json!(t);
        bd["status"] = json!(st);
        bd
    };
    let pause = || tokio::time::sleep(std::time::Duration::from_millis(3));
    let a = create(&s, mk("Cookie notice", "cookiePolicy", "active")).await;
    pause().await;
    let bb = create(&s, mk("privacy notice", "privacyPolicy", "draft")).await;
    pause().await;
    let c = create(&s, mk("AI Notice", "aiPolicy", "archived")).await;
    pause().await;
    let names = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect()
    };
    let path = policies_path(&s);
    let (_, page) = s.get(&path).await;
    assert_eq!(
        names(&page),
        ["AI Notice", "privacy notice", "Cookie notice"]
    );
    let (_, page) = s.get(&format!("{path}?sort=name&order=asc")).await;
    assert_eq!(
        names(&page),
        ["AI Notice", "Cookie notice", "privacy notice"]
    );
    let (_, page) = s
        .get(&format!("{path}?type=cookiePolicy&type=aiPolicy&order=asc"))
        .await;
    assert_eq!(names(&page), ["Cookie notice", "AI Notice"]);
    let (_, page) = s.get(&format!("{path}?status=draft")).await;
    assert_eq!(names(&page), ["privacy notice"]);
    let (_, page) = s.get(&format!("{path}?name=NOTICE&limit=1&offset=1")).await;
    assert_eq!(page["total"], 3);
    assert_eq!(page["count"], 1);
    assert_eq!(page["offset"], 1);
    assert_eq!(names(&page), ["privacy notice"]);
    // Updating one moves it first by dateUpdated.
    s.patch(
        &format!("{path}/{}", a["id"].as_str().unwrap()),
        json!({"status": "draft"}),
    )
    .await;
    let (_, page) = s.get(&format!("{path}?sort=dateUpdated")).await;
    assert_eq!(page["items"][0]["id"], a["id"]);
    let _ = (bb, c);
    assert_error(
        &s.get(&format!("{path}?type=tos")).await,
        400,
        "querystring/type must be equal to one of the allowed values: aiPolicy, cookiePolicy, privacyPolicy",
    );
    assert_error(
        &s.get(&format!("{path}?sort=type")).await,
        400,
        "querystring/sort must be equal to one of the allowed values: dateCreated, dateUpdated, name",
    );
    assert_error(
        &s.get(&format!("{path}?name={}", "n".repeat(257))).await,
        400,
        "querystring/name must NOT have more than 256 characters",
    );
}

/// Viewers read, admins and owners write; limited and viewer keys and project-only keys get
/// 403 with no data; another organization's key gets 403 on every operation.
async fn policies_roles_and_scope(b: accord_store::Backend) {
    let s = start(b).await;
    let p = create(&s, body(&s)).await;
    let path = policies_path(&s);
    let one = format!("{path}/{}", p["id"].as_str().unwrap());
    let admin = s.key_with(Role::Admin, vec![]).await;
    let limited = s.key_with(Role::Limited, vec![]).await;
    let viewer = s.key_with(Role::Viewer, vec![]).await;
    let project_only = s
        .key_with(Role::None, vec![(s.org, Some(s.project), Role::Admin)])
        .await;
    let other = other_org(&s).await;
    for key in [&viewer, &limited, &admin] {
        assert_eq!(send(s.req_as(key, Method::GET, &path)).await.0, 200);
        assert_eq!(send(s.req_as(key, Method::GET, &one)).await.0, 200);
    }
    for key in [&viewer, &limited, &project_only, &other.secret] {
        let forbidden = |got: (u16, Value)| assert_error(&got, 403, "Forbidden");
        forbidden(send(s.req_as(key, Method::POST, &path).json(&body(&s))).await);
        forbidden(
            send(
                s.req_as(key, Method::PATCH, &one)
                    .json(&json!({"name": "x"})),
            )
            .await,
        );
        forbidden(send(s.req_as(key, Method::DELETE, &one)).await);
    }
    for key in [&project_only, &other.secret] {
        assert_error(
            &send(s.req_as(key, Method::GET, &path)).await,
            403,
            "Forbidden",
        );
        assert_error(
            &send(s.req_as(key, Method::GET, &one)).await,
            403,
            "Forbidden",
        );
    }
    // An organization that does not exist is outside every scope.
    let ghost = format!("/privacy-v1/organizations/{}/policies", Uuid::now_v7());
    assert_error(&s.get(&ghost).await, 403, "Forbidden");
    let (_, after) = s.get(&one).await;
    assert_eq!(after, p);
    assert_eq!(policy_count(&s).await, 1);
    let mut bd = body(&s);
    bd["name"] = json!("By admin");
    let (status, _) = send(s.req_as(&admin, Method::POST, &path).json(&bd)).await;
    assert_eq!(status, 201);
    let (status, _) = send(s.req_as(&admin, Method::DELETE, &one)).await;
    assert_eq!(status, 200);
}

/// The features `policies.used` is the organization's current number of policies.
async fn policies_features_count(b: accord_store::Backend) {
    let s = start(b).await;
    let features = format!("/privacy-v1/organizations/{}/features", s.org);
    let (_, f) = s.get(&features).await;
    assert_eq!(
        f["policies"],
        json!({"licensed": null, "used": 0, "available": null})
    );
    let p = create(&s, body(&s)).await;
    create(&s, body(&s)).await;
    let other = other_org(&s).await;
    let mut theirs = body(&s);
    theirs["organizationId"] = json!(other.organization.id);
    let (status, _) = send(
        s.req_as(
            &other.secret,
            Method::POST,
            &format!(
                "/privacy-v1/organizations/{}/policies",
                other.organization.id
            ),
        )
        .json(&theirs),
    )
    .await;
    assert_eq!(status, 201);
    let (_, f) = s.get(&features).await;
    assert_eq!(f["policies"]["used"], 2);
    s.delete(&format!(
        "{}/{}",
        policies_path(&s),
        p["id"].as_str().unwrap()
    ))
    .await;
    let (_, f) = s.get(&features).await;
    assert_eq!(f["policies"]["used"], 1);
}

const JAN_2024: i64 = 1_704_067_200_000;
const FEB_2024: i64 = 1_706_745_600_000;
const MAR_2024: i64 = 1_709_251_200_000;

fn metrics_path(s: &Server, query: &str) -> String {
    format!("/privacy-v1/organizations/{}/metrics?{query}", s.org)
}

async fn metrics(s: &Server, query: &str) -> Value {
    let (status, page) = s.get(&metrics_path(s, query)).await;
    assert_eq!(status, 200, "{page}");
    check_schema(&published::<Page<MetricsItem>>(), &page, "metrics").unwrap();
    page
}

/// Requests, status changes, consent events and sessions dated in January and February
/// 2024 (on both sides of the boundary) are counted in their month, per project.
async fn metrics_months_and_counts(b: accord_store::Backend) {
    let s = start(b).await;
    let (status, second) = s
        .post(
            &format!("/privacy-v1/organizations/{}/projects", s.org),
            json!({"name": "Shop"}),
        )
        .await;
    assert_eq!(status, 201);
    let second: Uuid = second["id"].as_str().unwrap().parse().unwrap();
    // Three requests: one at the last ms of January, two at the first ms of February; one
    // of those acknowledged in February.
    let r1 = s.submitted_request().await;
    let r2 = s.submitted_request().await;
    let r3 = s
        .create_request(json!({"request": "view", "userEmail": "p@example.com"}))
        .await;
    let (status, _) = s
        .patch(
            &s.project_path(&format!(
                "/compliance-requests/{}",
                r2["id"].as_str().unwrap()
            )),
            json!({"status": "acknowledged"}),
        )
        .await;
    assert_eq!(status, 200);
    let id = |v: &Value| v["id"].as_str().unwrap().to_string();
    exec(
        &s,
        &format!(
            "UPDATE compliance_requests SET request_date = {} WHERE id = '{}'",
            FEB_2024 - 1,
            id(&r1)
        ),
    )
    .await;
    exec(
        &s,
        &format!(
            "UPDATE compliance_requests SET request_date = {FEB_2024} WHERE id IN ('{}', '{}')",
            id(&r2),
            id(&r3)
        ),
    )
    .await;
    exec(&s, &format!("UPDATE compliance_request_events SET date_created = {} WHERE compliance_request_id = '{}'", FEB_2024 + 5, id(&r2))).await;
    // Consent events: two in January, one in February.
    let (status, created) = s
        .post(
            &s.project_path("/consent-events"),
            json!({"items": [
                {"email": "a@example.com", "consentState": "accepted", "consentAction": "user_click", "category": "privacy_setting", "subcategory": ["analytics"], "label": "analytics"},
                {"email": "b@example.com", "consentState": "accepted", "consentAction": "user_click", "category": "privacy_setting", "subcategory": ["analytics"], "label": "analytics"},
                {"email": "c@example.com", "consentState": "declined", "consentAction": "user_click", "category": "privacy_setting", "subcategory": ["analytics"], "label": "analytics"},
            ]}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let ev = |i: usize| id(&created["items"][i]);
    exec(
        &s,
        &format!(
            "UPDATE consent_events SET date_created = {JAN_2024} WHERE id IN ('{}', '{}')",
            ev(0),
            ev(1)
        ),
    )
    .await;
    exec(
        &s,
        &format!(
            "UPDATE consent_events SET date_created = {} WHERE id = '{}'",
            MAR_2024 - 1,
            ev(2)
        ),
    )
    .await;
    // Sessions: three in January for two identities, one in February.
    let mint = |cid: Option<&str>| {
        let mut rb = s
            .client
            .post(s.url(&format!("/site-v1/{}/session", s.project)));
        if let Some(c) = cid {
            rb = rb.json(&json!({"concordId": c}));
        }
        send(rb)
    };
    let (status, first) = mint(None).await;
    assert_eq!(status, 201, "{first}");
    let cid = first["concordId"].as_str().unwrap().to_string();
    mint(Some(&cid)).await;
    mint(None).await;
    let (_, late) = mint(None).await;
    exec(
        &s,
        &format!(
            "UPDATE sessions SET date_created = {} WHERE project_id = '{}'",
            JAN_2024 + 1,
            s.project
        ),
    )
    .await;
    exec(
        &s,
        &format!(
            "UPDATE sessions SET date_created = {FEB_2024} WHERE concord_id = '{}'",
            late["concordId"].as_str().unwrap()
        ),
    )
    .await;

    let start_q = "startDate=2024-01-15T00:00:00.000Z";
    let page = metrics(&s, &format!("{start_q}&endDate={MAR_2024}")).await;
    assert_eq!(page["total"], 4);
    assert_eq!(page["count"], 4);
    assert_eq!(page["offset"], 0);
    let items = page["items"].as_array().unwrap();
    let mut projects = [s.project, second];
    projects.sort();
    let expect_order: Vec<(i64, Uuid)> = [JAN_2024, FEB_2024]
        .iter()
        .flat_map(|m| projects.iter().map(move |p| (*m, *p)))
        .collect();
    let got_order: Vec<(i64, Uuid)> = items
        .iter()
        .map(|i| {
            (
                i["period"].as_i64().unwrap(),
                i["project"].as_str().unwrap().parse().unwrap(),
            )
        })
        .collect();
    assert_eq!(got_order, expect_order);
    let item = |period: i64, project: Uuid| {
        items
            .iter()
            .find(|i| i["period"] == period && i["project"] == json!(project))
            .unwrap()
            .clone()
    };
    let jan = item(JAN_2024, s.project);
    assert_eq!(jan["finalized"], true);
    assert_eq!(jan["complianceRequests"]["created"], 1);
    assert_eq!(jan["complianceRequests"]["stateCount"]["submitted"], 1);
    assert_eq!(jan["complianceRequests"]["stateCount"]["acknowledged"], 0);
    assert_eq!(jan["consentEvents"]["created"], 2);
    assert_eq!(jan["consentEvents"]["read"], 0);
    assert_eq!(jan["sessions"]["created"], 3);
    assert_eq!(jan["sessions"]["unique"], 2);
    let feb = item(FEB_2024, s.project);
    assert_eq!(feb["finalized"], true);
    assert_eq!(feb["complianceRequests"]["created"], 2);
    assert_eq!(feb["complianceRequests"]["stateCount"]["acknowledged"], 1);
    assert_eq!(
        feb["complianceRequests"]["stateCount"]["pending_verification"],
        1
    );
    assert_eq!(feb["complianceRequests"]["stateChanged"]["acknowledged"], 1);
    assert_eq!(feb["consentEvents"]["created"], 1);
    assert_eq!(feb["sessions"], json!({"created": 1, "unique": 1}));
    assert_eq!(jan["complianceRequests"]["stateChanged"]["acknowledged"], 0);
    let empty = item(JAN_2024, second);
    assert_eq!(empty["complianceRequests"]["created"], 0);
    assert_eq!(empty["sessions"], json!({"created": 0, "unique": 0}));
    // Ids are stable per project and period, and distinct.
    let again = metrics(&s, &format!("{start_q}&endDate={MAR_2024}")).await;
    assert_eq!(again["items"][0]["id"], items[0]["id"]);
    assert_ne!(items[0]["id"], items[1]["id"]);

    // The project filter, paging across months, and the other form of each date.
    let page = metrics(
        &s,
        &format!(
            "startDate={JAN_2024}&endDate=2024-03-01T00:00:00Z&project={}",
            s.project
        ),
    )
    .await;
    assert_eq!(page["total"], 2);
    assert_eq!(page["items"][1], feb);
    let page = metrics(
        &s,
        &format!("{start_q}&endDate={MAR_2024}&offset=1&limit=2"),
    )
    .await;
    assert_eq!(page["total"], 4);
    assert_eq!(page["count"], 2);
    assert_eq!(page["items"][0], items[1]);
    assert_eq!(page["items"][1], items[2]);
    let page = metrics(&s, &format!("{start_q}&endDate={MAR_2024}&offset=4")).await;
    assert_eq!(page["count"], 0);
    assert_eq!(page["total"], 4);
    // endDate is exclusive: the first ms of February adds no February item.
    let page = metrics(&s, &format!("{start_q}&endDate={FEB_2024}")).await;
    assert_eq!(page["total"], 2);
    // The current month is not finalized.
    let now = accord_core::time::now_ms();
    let page = metrics(
        &s,
        &format!(
            "startDate={}&endDate={}&project={}",
            accord_core::time::to_rfc3339(now - 1),
            now + 1,
            s.project
        ),
    )
    .await;
    assert_eq!(page["total"], 1);
    assert_eq!(page["items"][0]["finalized"], false);
}

/// Site reads of consent state and events are counted in memory and appear after a flush.
async fn metrics_read_counter_after_flush(b: accord_store::Backend) {
    let s = start_with(
        b,
        ApiConfig {
            rate_limit_privacy: 0,
            rate_limit_site: 0,
            read_flush_interval_ms: 50,
            ..Default::default()
        },
    )
    .await;
    let (status, minted) = send(
        s.client
            .post(s.url(&format!("/site-v1/{}/session", s.project))),
    )
    .await;
    assert_eq!(status, 201, "{minted}");
    let token = minted["session"].as_str().unwrap();
    for path in ["/consent-state", "/consent-events", "/consent-state"] {
        let (status, _) = send(
            s.client
                .get(s.url(&format!("/site-v1/{}{path}", s.project)))
                .header("x-session", token),
        )
        .await;
        assert_eq!(status, 200);
    }
    let now = accord_core::time::now_ms();
    let query = format!(
        "startDate={}&endDate={}&project={}",
        accord_core::time::to_rfc3339(now - 1),
        now + 1,
        s.project
    );
    let mut read = 0;
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        read = metrics(&s, &query).await["items"][0]["consentEvents"]["read"]
            .as_i64()
            .unwrap();
        if read == 3 {
            break;
        }
    }
    assert_eq!(read, 3);
    // Each flush adds to the stored count.
    let (status, _) = send(
        s.client
            .get(s.url(&format!("/site-v1/{}/consent-state", s.project)))
            .header("x-session", token),
    )
    .await;
    assert_eq!(status, 200);
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        read = metrics(&s, &query).await["items"][0]["consentEvents"]["read"]
            .as_i64()
            .unwrap();
        if read == 4 {
            break;
        }
    }
    assert_eq!(read, 4);
}

async fn metrics_query_rules(b: accord_store::Backend) {
    let s = start(b).await;
    let bad = |q: &str, message: &str| {
        let path = metrics_path(&s, q);
        let message = message.to_string();
        let s = &s;
        async move { assert_error(&s.get(&path).await, 400, &message) }
    };
    bad(
        "endDate=1",
        "querystring must have required property 'startDate'",
    )
    .await;
    bad(
        "startDate=2024-01-01T00:00:00Z",
        "querystring must have required property 'endDate'",
    )
    .await;
    bad(
        "startDate=2024-01-01&endDate=1",
        "querystring/startDate must match format \"date-time\"",
    )
    .await;
    bad(
        "startDate=2024-01-01T00:00:00Z&endDate=soon",
        "querystring/endDate must be integer",
    )
    .await;
    bad(
        "startDate=2024-01-01T00:00:00Z&endDate=99999999999999999999",
        "querystring/endDate must be <= 253402300799999",
    )
    .await;
    bad(
        &format!("startDate=2024-02-01T00:00:00Z&endDate={JAN_2024}"),
        "querystring/startDate must be before querystring/endDate",
    )
    .await;
    bad(
        &format!("startDate=2024-01-01T00:00:00Z&endDate={MAR_2024}&project=nope"),
        "querystring/project must match format \"uuid\"",
    )
    .await;
    bad(
        &format!("startDate=2024-01-01T00:00:00Z&endDate={MAR_2024}&limit=0"),
        "querystring/limit must be >= 1",
    )
    .await;
    bad(
        &format!("startDate=2024-01-01T00:00:00Z&endDate={MAR_2024}&offset=-1"),
        "querystring/offset must be >= 0",
    )
    .await;
    // A long range is counted in pages; unknown parameters are ignored.
    let page = metrics(
        &s,
        &format!("startDate=2000-01-01T00:00:00Z&endDate={MAR_2024}&limit=3&sort=x"),
    )
    .await;
    assert_eq!(page["total"], 24 * 12 + 2);
    assert_eq!(page["count"], 3);
    assert_eq!(page["items"][0]["period"], 946_684_800_000_i64);
}

/// Viewers and above read metrics; project-only keys and other organizations get 403, and
/// a project of another organization in the filter is 403 with no data.
async fn metrics_roles_and_scope(b: accord_store::Backend) {
    let s = start(b).await;
    let q = format!("startDate=2024-01-01T00:00:00Z&endDate={MAR_2024}");
    let path = metrics_path(&s, &q);
    let viewer = s.key_with(Role::Viewer, vec![]).await;
    let project_only = s
        .key_with(Role::None, vec![(s.org, Some(s.project), Role::Owner)])
        .await;
    let other = other_org(&s).await;
    let (status, page) = send(s.req_as(&viewer, Method::GET, &path)).await;
    assert_eq!(status, 200);
    assert_eq!(page["total"], 2);
    for key in [&project_only, &other.secret] {
        assert_error(
            &send(s.req_as(key, Method::GET, &path)).await,
            403,
            "Forbidden",
        );
    }
    assert_error(
        &s.get(&format!("{path}&project={}", other.project.id)).await,
        403,
        "Forbidden",
    );
    assert_error(
        &s.get(&format!("{path}&project={}", Uuid::now_v7())).await,
        403,
        "Forbidden",
    );
    assert_error(
        &s.get(&format!(
            "/privacy-v1/organizations/{}/metrics?{q}",
            Uuid::now_v7()
        ))
        .await,
        403,
        "Forbidden",
    );
    // The other organization's own metrics never show this organization's projects.
    let (status, theirs) = send(s.req_as(
        &other.secret,
        Method::GET,
        &format!(
            "/privacy-v1/organizations/{}/metrics?{q}",
            other.organization.id
        ),
    ))
    .await;
    assert_eq!(status, 200);
    assert!(theirs["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["project"] == json!(other.project.id)));
}
