//! Running concerns: rate limits, CORS, health when the database is gone, 500s that leak
//! nothing, and data-system tasks snapshotted at creation.
use crate::both;
use crate::common::*;
use accord_api::ApiConfig;
use reqwest::Method;

both!(
    rate_limit_answers_429,
    site_rate_limit_is_per_project,
    features_report_usage,
    cors_only_for_listed_origins,
    database_loss_is_503_and_opaque_500,
    data_system_tasks
);

async fn rate_limit_answers_429(b: accord_store::Backend) {
    let s = start_with(
        b,
        ApiConfig {
            rate_limit_privacy: 3,
            ..Default::default()
        },
    )
    .await;
    let path = s.project_path("/compliance-requests");
    for _ in 0..3 {
        assert_eq!(s.get(&path).await.0, 200);
    }
    let res = s.req(Method::GET, &path).send().await.unwrap();
    assert_eq!(res.status(), 429);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(
        body["message"],
        format!("Rate limit exceeded, retry in {retry} seconds")
    );
    // The limit is per key: another key is unaffected, and health is never limited.
    let other = s.key_with(accord_core::auth::Role::Viewer, vec![]).await;
    assert_eq!(send(s.req_as(&other, Method::GET, &path)).await.0, 200);
    for _ in 0..5 {
        assert_eq!(send(s.client.get(s.url("/privacy-v1/health"))).await.0, 200);
    }
    // 401 comes before 429.
    assert_eq!(send(s.req_as("ak_nope", Method::GET, &path)).await.0, 401);
}

async fn site_rate_limit_is_per_project(b: accord_store::Backend) {
    let s = start_with(
        b,
        ApiConfig {
            rate_limit_privacy: 0,
            rate_limit_site: 2,
            ..Default::default()
        },
    )
    .await;
    let mint = |project: String| {
        let s = &s;
        async move { send(s.client.post(s.url(&format!("/site-v1/{project}/session")))).await }
    };
    assert_eq!(mint(s.project.to_string()).await.0, 201);
    assert_eq!(mint(s.project.to_string()).await.0, 201);
    let got = mint(s.project.to_string()).await;
    assert_eq!(got.0, 429, "{}", got.1);
    assert!(got.1["message"]
        .as_str()
        .unwrap()
        .starts_with("Rate limit exceeded, retry in "));
    let other = s
        .store
        .create_project(
            s.org,
            accord_core::store::NewProject {
                name: "Other".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        mint(other.id.to_string()).await.0,
        201,
        "another project has its own budget"
    );
    assert_eq!(
        send(s.client.get(s.url("/site-v1/health"))).await.0,
        200,
        "health is not limited"
    );
}

async fn features_report_usage(b: accord_store::Backend) {
    let s = start(b).await;
    s.submitted_request().await;
    s.submitted_request().await;
    let path = format!("/privacy-v1/organizations/{}/features", s.org);
    let (status, f) = s.get(&path).await;
    assert_eq!(status, 200, "{f}");
    assert_eq!(
        f["privacyRequests"],
        json!({"licensed": null, "used": 2, "available": null})
    );
    assert_eq!(f["domains"]["used"], 1, "the bootstrap domain");
    assert_eq!(f["dataSystems"]["used"], 0);
    assert_eq!(f["sessions"], json!({"licensed": null, "used": 0}));
    assert_eq!(f["features"]["consentLog"], true);
    assert_eq!(f["features"]["backendScanFrequency"], "daily");
    let scoped = s
        .key_with(
            accord_core::auth::Role::None,
            vec![(s.org, Some(s.project), accord_core::auth::Role::Viewer)],
        )
        .await;
    assert_error(
        &send(s.req_as(&scoped, Method::GET, &path)).await,
        403,
        "Forbidden",
    );
    assert_error(
        &s.get("/privacy-v1/organizations/nope/features").await,
        400,
        "params/organizationId must match format \"uuid\"",
    );
}

async fn cors_only_for_listed_origins(b: accord_store::Backend) {
    let s = start_with(
        b,
        ApiConfig {
            rate_limit_privacy: 0,
            cors_origins: vec!["https://admin.example.com".into()],
            ..Default::default()
        },
    )
    .await;
    let path = s.project_path("/compliance-requests");
    let res = s
        .client
        .request(Method::OPTIONS, s.url(&path))
        .header("origin", "https://admin.example.com")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://admin.example.com"
    );
    assert!(res.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .contains("x-api-key"));
    let res = s
        .req(Method::GET, &path)
        .header("origin", "https://evil.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("access-control-allow-origin").is_none());
    let res = s
        .req(Method::GET, &path)
        .header("origin", "https://admin.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://admin.example.com"
    );
    let plain = start(b).await;
    let res = plain
        .req(Method::GET, &plain.project_path("/compliance-requests"))
        .header("origin", "https://admin.example.com")
        .send()
        .await
        .unwrap();
    assert!(
        res.headers().get("access-control-allow-origin").is_none(),
        "no CORS headers by default"
    );
}

async fn database_loss_is_503_and_opaque_500(b: accord_store::Backend) {
    let s = start(b).await;
    let path = s.project_path("/compliance-requests");
    assert_eq!(s.get(&path).await.0, 200);
    s.store.db.close().await;
    assert_error(
        &send(s.client.get(s.url("/privacy-v1/health"))).await,
        503,
        "database unavailable",
    );
    assert_error(
        &send(s.client.get(s.url("/site-v1/health"))).await,
        503,
        "database unavailable",
    );
    assert_error(&s.get(&path).await, 500, "Internal Server Error");
}

async fn data_system_tasks(b: accord_store::Backend) {
    use sqlx::Executor;
    let s = start(b).await;
    let now = accord_core::time::now_ms();
    let ds = |id: uuid::Uuid, name: &str, status: &str| {
        format!(
            "INSERT INTO data_systems (id, organization_id, name, status, data_system_type_id, date_created, date_updated) VALUES ('{id}', '{}', '{name}', '{status}', 'crm', {now}, {now})",
            s.org
        )
    };
    let link = |id: uuid::Uuid| {
        format!(
            "INSERT INTO data_system_projects (data_system_id, project_id) VALUES ('{id}', '{}')",
            s.project
        )
    };
    let (crm, archived, unlinked) = (
        uuid::Uuid::now_v7(),
        uuid::Uuid::now_v7(),
        uuid::Uuid::now_v7(),
    );
    for sql in [
        ds(crm, "CRM", "active"),
        link(crm),
        ds(archived, "Old ERP", "archived"),
        link(archived),
        ds(unlinked, "Mailer", "active"),
    ] {
        s.store.db.write.execute(sql.as_str()).await.unwrap();
    }
    let cr = s.submitted_request().await;
    assert_eq!(
        cr["dataSystemTasks"],
        json!([{"dataSystem": {"id": crm.to_string(), "name": "CRM", "dataSystemTypeId": "crm"}, "completed": false}])
    );
    // Linked later: no task on the existing request.
    s.store
        .db
        .write
        .execute(link(unlinked).as_str())
        .await
        .unwrap();
    let id = cr["id"].as_str().unwrap();
    let path = s.project_path(&format!("/compliance-requests/{id}"));
    let (_, again) = s.get(&path).await;
    assert_eq!(again["dataSystemTasks"].as_array().unwrap().len(), 1);
    assert_error(
        &s.patch(&path, json!({"dataSystemTasks": [{"dataSystem": crm, "completed": true}, {"dataSystem": crm, "completed": false}]})).await,
        422,
        "dataSystemTasks/1/dataSystem is listed more than once",
    );
    let (status, done) = s.patch(&path, json!({"dataSystemTasks": [{"dataSystem": crm.to_string().to_uppercase(), "completed": true}]})).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["dataSystemTasks"][0]["completed"], true);
    let (_, ev) = s
        .get(&s.project_path(&format!(
            "/compliance-requests-events?complianceRequestId={id}&event=data_system_task_updated"
        )))
        .await;
    assert_eq!(
        ev["items"][0]["details"],
        json!({"dataSystem": crm.to_string(), "completed": true})
    );
    // Once the data system is gone the task shows its id.
    s.store
        .db
        .write
        .execute(format!("DELETE FROM data_systems WHERE id = '{crm}'").as_str())
        .await
        .unwrap();
    let (_, after) = s.get(&path).await;
    assert_eq!(
        after["dataSystemTasks"],
        json!([{"dataSystem": crm.to_string(), "completed": true}])
    );
    check_schema(
        &accord_api::openapi::compliance_request_schema(),
        &after,
        "after",
    )
    .unwrap();
    let newer = s.submitted_request().await;
    assert_eq!(newer["dataSystemTasks"][0]["dataSystem"]["name"], "Mailer");
}
