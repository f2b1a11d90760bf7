//! Transport rules shared by every endpoint: routing, credentials, ids, media types, health,
//! request ids and the published document.
use crate::both;
use crate::common::*;
use reqwest::Method;

both!(
    unknown_routes_are_404,
    credentials_are_checked_first,
    path_ids_must_be_uuids,
    health_and_document,
    request_ids_echo
);

async fn unknown_routes_are_404(b: accord_store::Backend) {
    let s = start(b).await;
    assert_error(
        &s.get("/privacy-v1/nothing").await,
        404,
        "Route GET:/privacy-v1/nothing not found",
    );
    let path = s.project_path("/compliance-requests/");
    assert_error(
        &s.get(&path).await,
        404,
        &format!("Route GET:{path} not found"),
    );
    // A known path with an unknown method is an unknown route too.
    let path = s.project_path("/compliance-requests");
    assert_error(
        &send(s.req(Method::PUT, &path)).await,
        404,
        &format!("Route PUT:{path} not found"),
    );
}

async fn credentials_are_checked_first(b: accord_store::Backend) {
    let s = start(b).await;
    let path = "/privacy-v1/organizations/not-a-uuid/projects/x/compliance-requests";
    assert_error(
        &send(s.client.get(s.url(path))).await,
        401,
        "Missing x-api-key header",
    );
    assert_error(
        &send(s.req_as("ak_wrong", Method::GET, path)).await,
        401,
        "Invalid API key",
    );
    assert_error(
        &send(s.req_as(&"x".repeat(513), Method::GET, path)).await,
        401,
        "Invalid API key",
    );
    // Surrounding whitespace is trimmed before hashing.
    let (status, _) = send(s.req_as(
        &format!("  {}  ", s.key),
        Method::GET,
        &s.project_path("/compliance-requests"),
    ))
    .await;
    assert_eq!(status, 200);
}

async fn path_ids_must_be_uuids(b: accord_store::Backend) {
    let s = start(b).await;
    let path = format!(
        "/privacy-v1/organizations/{{{}}}/projects/{}/compliance-requests",
        s.org, s.project
    );
    assert_error(
        &s.get(&path).await,
        400,
        "params/organizationId must match format \"uuid\"",
    );
    let path = format!(
        "/privacy-v1/organizations/{}/projects/urn:uuid:{}/compliance-requests",
        s.org, s.project
    );
    assert_error(
        &s.get(&path).await,
        400,
        "params/projectId must match format \"uuid\"",
    );
    // Upper-case ids are accepted.
    let path = format!(
        "/privacy-v1/organizations/{}/projects/{}/compliance-requests",
        s.org.to_string().to_uppercase(),
        s.project
    );
    assert_eq!(s.get(&path).await.0, 200);
}

async fn health_and_document(b: accord_store::Backend) {
    let s = start(b).await;
    let (status, body) = send(s.client.get(s.url("/privacy-v1/health"))).await;
    assert_eq!((status, body), (200, json!({"status": "ok"})));
    let (status, doc) = send(s.client.get(s.url("/privacy-v1/docs/json"))).await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["title"], "Accord Privacy API");
    assert_eq!(doc["servers"][0]["url"], "/privacy-v1");
    assert_eq!(
        doc["components"]["securitySchemes"]["ApiKeyAuth"]["name"],
        "x-api-key"
    );
    let create = &doc["paths"]
        ["/organizations/{organizationId}/projects/{projectId}/compliance-requests"]["post"];
    let body_schema = &create["requestBody"]["content"]["application/json"]["schema"]["oneOf"][0];
    assert_eq!(body_schema["additionalProperties"], false);
    assert_eq!(body_schema["properties"]["notes"]["maxLength"], 2048);
    let res = s
        .client
        .get(s.url("/privacy-v1/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers()["content-type"],
        "application/json; charset=utf-8"
    );
    let (status, site) = send(s.client.get(s.url("/site-v1/docs/json"))).await;
    assert_eq!(status, 200);
    assert_eq!(site["info"]["title"], "Accord Site API");
    assert_eq!(site["servers"][0]["url"], "/site-v1");
    assert_eq!(
        site["components"]["securitySchemes"]["SessionAuth"]["name"],
        "x-session"
    );
    assert_eq!(
        send(s.client.get(s.url("/site-v1/health"))).await,
        (200, json!({"status": "ok"}))
    );
    // Every operation of the published document answers errors with the §1.5 schema.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for (code, res) in op["responses"].as_object().unwrap() {
                if code.starts_with('4') || code.starts_with('5') {
                    assert_eq!(
                        res["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/Error",
                        "{method} {path} {code}"
                    );
                }
            }
        }
    }
}

async fn request_ids_echo(b: accord_store::Backend) {
    let s = start(b).await;
    let res = s
        .client
        .get(s.url("/privacy-v1/health"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "abc-123");
    let res = s
        .client
        .get(s.url("/privacy-v1/health"))
        .header("x-request-id", "has space")
        .send()
        .await
        .unwrap();
    let generated = res.headers()["x-request-id"].to_str().unwrap().to_string();
    assert!(accord_core::ids::is_uuid(&generated), "{generated}");
}
