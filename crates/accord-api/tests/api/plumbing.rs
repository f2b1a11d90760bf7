//! The layers every request passes through and the contract fixes of the reshaping:
//! `include=deadline` on create, consent events on an archived project, CORS preflights on
//! paths that do not exist, slow request bodies, compression, and the agreement between the
//! router and the published documents.
use crate::both;
use crate::common::*;
use crate::conformance;
use accord_api::ApiConfig;
use reqwest::Method;
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

both!(
    include_deadline_on_create,
    consent_events_on_an_archived_project_are_refused,
    preflights_on_unknown_paths_are_404,
    slow_bodies_time_out_with_the_contract_body,
    large_responses_are_compressed_on_request,
    routes_and_documents_agree
);

fn event(email: &str) -> Value {
    json!({"email": email, "consentState": "implied", "consentAction": "implied",
        "category": "disclosure", "subcategory": ["privacy_policy"], "label": "privacy_policy"})
}

async fn include_deadline_on_create(b: accord_store::Backend) {
    let s = start(b).await;
    let path = s.project_path("/compliance-requests");
    let body = json!({"request": "view", "userEmail": "jane@example.com", "preverified": true});
    let (status, plain) = s.post(&path, body.clone()).await;
    assert_eq!(status, 201, "{plain}");
    assert!(plain.get("dueDate").is_none(), "{plain}");
    let (status, with) = s
        .post(&format!("{path}?include=deadline"), body.clone())
        .await;
    assert_eq!(status, 201, "{with}");
    assert!(with["dueDate"].as_i64().unwrap() > with["requestDate"].as_i64().unwrap());
    assert_eq!(with["dueDateExtended"], false);
    let (status, many) = s
        .post(
            &format!("{path}?include=deadline"),
            json!([body.clone(), body]),
        )
        .await;
    assert_eq!(status, 201, "{many}");
    assert!(many["items"][1]["dueDate"].is_i64(), "{many}");
    let (status, bad) = s
        .post(
            &format!("{path}?include=nope"),
            json!({"request": "view", "userEmail": "jane@example.com"}),
        )
        .await;
    assert_eq!(status, 400, "{bad}");
    assert!(bad["message"]
        .as_str()
        .unwrap()
        .starts_with("querystring/include"));
    let (_, list) = s.get(&path).await;
    assert_eq!(list["total"], 4, "a refused create stores nothing");
}

async fn consent_events_on_an_archived_project_are_refused(b: accord_store::Backend) {
    let s = start(b).await;
    let path = s.project_path("/consent-events");
    let (status, body) = s
        .post(&path, json!({"items": [event("a@example.com")]}))
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = s.delete(&s.project_path("")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "archived");
    let got = s
        .post(&path, json!({"items": [event("b@example.com")]}))
        .await;
    assert_error(&got, 422, "project is archived");
    let (_, list) = s.get(&path).await;
    assert_eq!(list["total"], 1, "nothing of the refused call is stored");
}

async fn preflights_on_unknown_paths_are_404(b: accord_store::Backend) {
    let s = start_with(
        b,
        ApiConfig {
            cors_origins: vec!["https://admin.example.com".into()],
            ..Default::default()
        },
    )
    .await;
    let (status, body) = s
        .post(
            &s.project_path("/domains"),
            json!({"domain": "example.com"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let preflight = |path: String, origin: &'static str| {
        s.client
            .request(Method::OPTIONS, s.url(&path))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
    };
    // Known paths still answer 204.
    let site_path = format!("/site-v1/{}/session", s.project);
    let res = preflight(site_path, "https://example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let res = preflight(
        s.project_path("/compliance-requests"),
        "https://admin.example.com",
    )
    .send()
    .await
    .unwrap();
    assert_eq!(res.status(), 204);
    // Paths no router serves are 404, with no CORS headers.
    for rest in [
        "tracker-scans",
        "widget/extra",
        "site-client/extra",
        "nothing",
        "session/extra",
    ] {
        let path = format!("/site-v1/{}/{rest}", s.project);
        let res = preflight(path.clone(), "https://example.com")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404, "{path}");
        assert!(res.headers().get("access-control-allow-origin").is_none());
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["message"], format!("Route OPTIONS:{path} not found"));
    }
    let res = preflight(
        "/privacy-v1/nothing".to_string(),
        "https://admin.example.com",
    )
    .send()
    .await
    .unwrap();
    assert_eq!(res.status(), 404);
}

async fn slow_bodies_time_out_with_the_contract_body(b: accord_store::Backend) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let config = ApiConfig {
        body_timeout: Duration::from_millis(400),
        ..Default::default()
    };
    let s = start_with(b, config).await;
    // A client that sends the headers and part of the body, then stalls.
    let addr = s.base.trim_start_matches("http://").to_string();
    let mut tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let body = json!({"items": [event("slow@example.com")]}).to_string();
    let head = format!(
        "POST {} HTTP/1.1\r\nhost: {addr}\r\nx-api-key: {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        s.project_path("/consent-events"),
        s.key,
        body.len()
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    tcp.write_all(&body.as_bytes()[..10]).await.unwrap();
    let started = std::time::Instant::now();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(started.elapsed() >= Duration::from_millis(350));
    assert!(answer.contains("x-request-id: "), "{answer}");
    let json_body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    let parsed: Value = serde_json::from_str(json_body).unwrap_or(Value::Null);
    assert_eq!(
        parsed,
        json!({"statusCode": 408, "error": "Request Timeout", "message": "body was not received in time"}),
        "{answer}"
    );
    // Nothing of it was stored; clients that send at once are unaffected.
    let (status, list) = s.get(&s.project_path("/consent-events")).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["total"], 0);
    let (status, body) = s
        .post(
            &s.project_path("/consent-events"),
            json!({"items": [event("quick@example.com")]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

async fn large_responses_are_compressed_on_request(b: accord_store::Backend) {
    let s = start(b).await;
    let res = s
        .client
        .get(s.url("/privacy-v1/docs/json"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-encoding"], "gzip");
    let gzipped = res.bytes().await.unwrap();
    let plain = s
        .client
        .get(s.url("/privacy-v1/docs/json"))
        .send()
        .await
        .unwrap();
    assert!(plain.headers().get("content-encoding").is_none());
    let plain = plain.bytes().await.unwrap();
    assert!(
        gzipped.len() * 4 < plain.len(),
        "{} vs {}",
        gzipped.len(),
        plain.len()
    );
    // Small answers are not worth compressing.
    let res = s
        .client
        .get(s.url("/privacy-v1/health"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("content-encoding").is_none());
}

/// The `(method, path)` pairs the published documents declare, in served form.
fn documented_operations() -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (prefix, doc) in [
        ("/privacy-v1", accord_api::openapi::privacy_document()),
        ("/site-v1", accord_api::openapi::site_document()),
    ] {
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                ops.insert((method.to_uppercase(), format!("{prefix}{path}")));
            }
        }
    }
    ops
}

/// Every path the router serves, read from the router itself.
fn routed_paths(s: &Server) -> BTreeSet<String> {
    let files: Arc<dyn object_store::ObjectStore> = Arc::new(object_store::memory::InMemory::new());
    let state = accord_api::AppState::new(s.store.clone(), files, ApiConfig::default());
    let debug = format!("{:?}", accord_api::routes(state));
    let paths: BTreeSet<String> = regex_paths(&debug);
    assert!(paths.len() > 30, "could not read the routes: {debug:.400}");
    paths
}

/// The quoted strings of a router's debug form that are paths.
fn regex_paths(debug: &str) -> BTreeSet<String> {
    debug
        .split('"')
        .filter(|t| t.starts_with("/privacy-v1/") || t.starts_with("/site-v1/"))
        .map(str::to_string)
        .collect()
}

/// A served form of a templated path, with a fresh uuid for each parameter.
fn concrete(s: &Server, path: &str) -> String {
    path.split('/')
        .map(|seg| match seg {
            "{organizationId}" => s.org.to_string(),
            "{projectId}" => s.project.to_string(),
            "{fileName}" => "file.txt".to_string(),
            "{token}" => "token".to_string(),
            seg if seg.starts_with('{') => Uuid::new_v4().to_string(),
            seg => seg.to_string(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

async fn routes_and_documents_agree(b: accord_store::Backend) {
    let s = start_with(
        b,
        ApiConfig {
            rate_limit_privacy: 0,
            rate_limit_site: 0,
            ..Default::default()
        },
    )
    .await;
    let documented = documented_operations();
    let documented_paths: BTreeSet<String> = documented.iter().map(|(_, p)| p.clone()).collect();
    let routed = routed_paths(&s);
    let undocumented: Vec<&String> = routed.difference(&documented_paths).collect();
    assert!(
        undocumented.is_empty(),
        "routed but not documented: {undocumented:?}"
    );
    let unrouted: Vec<&String> = documented_paths.difference(&routed).collect();
    assert!(
        unrouted.is_empty(),
        "documented but not routed: {unrouted:?}"
    );
    // On every path, exactly the documented methods are routed: the others are unknown
    // routes. Requests carry no credentials, so nothing is changed.
    for path in &routed {
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            let url = concrete(&s, path);
            let m = Method::from_bytes(method.as_bytes()).unwrap();
            let (status, body) = send(s.client.request(m, s.url(&url))).await;
            let unknown = status == 404
                && body["message"] == format!("Route {method}:{url} not found").as_str();
            let listed = documented.contains(&(method.to_string(), path.clone()));
            assert_eq!(
                !unknown, listed,
                "{method} {path}: routed = {}, documented = {listed} ({status} {body})",
                !unknown
            );
            assert!(
                conformance::documented(path).is_some(),
                "{path} is outside both documents"
            );
        }
    }
}

/// Every operation of both documents has a summary and a description, every parameter a
/// description, and every property of every request and response schema (through `$ref`,
/// `items`, `anyOf`, `oneOf`, `allOf` and `additionalProperties`) a description.
#[test]
fn documents_describe_every_operation_parameter_and_property() {
    for (name, doc) in [
        ("privacy", accord_api::openapi::privacy_document()),
        ("site", accord_api::openapi::site_document()),
    ] {
        let missing = undescribed(doc);
        assert!(
            missing.is_empty(),
            "{name} document: {} undescribed:\n{}",
            missing.len(),
            missing.join("\n")
        );
    }
}

/// The walk above finds what is missing, however deep.
#[test]
fn the_description_walk_finds_what_is_missing() {
    let doc = json!({
        "paths": {"/things": {"post": {
            "summary": "Create", "description": "",
            "parameters": [{"name": "limit", "in": "query"}],
            "requestBody": {"content": {"application/json": {"schema": {"type": "object", "properties": {
                "a": {"description": "A.", "type": "array", "items": {"anyOf": [
                    {"type": "object", "properties": {"deep": {"type": "string"}}}, {"type": "null"}]}},
                "b": {"$ref": "#/components/schemas/B"}
            }}}}},
            "responses": {"200": {"description": "Success", "content": {"application/json": {"schema": {
                "type": "object", "additionalProperties": {"$ref": "#/components/schemas/B"}}}}}}
        }}},
        "components": {"schemas": {"B": {"description": "B.", "type": "object", "properties": {
            "c": {"type": "integer"}}}}}
    });
    assert_eq!(
        undescribed(&doc),
        vec![
            "POST /things: no description",
            "POST /things: parameter limit has no description",
            "POST /things request application/json: a/items/anyOf/0/deep has no description",
            "POST /things request application/json: b/c has no description",
            "POST /things 200 application/json: additionalProperties/c has no description",
        ]
    );
}

/// What [`documents_describe_every_operation_parameter_and_property`] finds missing.
fn undescribed(doc: &Value) -> Vec<String> {
    let mut missing = Vec::new();
    let described = |v: &Value| {
        v.get("description")
            .and_then(Value::as_str)
            .is_some_and(|d| !d.trim().is_empty())
    };
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let at = format!("{} {path}", method.to_uppercase());
            for key in ["summary", "description"] {
                if op
                    .get(key)
                    .and_then(Value::as_str)
                    .is_none_or(|s| s.trim().is_empty())
                {
                    missing.push(format!("{at}: no {key}"));
                }
            }
            for param in op["parameters"].as_array().into_iter().flatten() {
                if !described(param) {
                    missing.push(format!(
                        "{at}: parameter {} has no description",
                        param["name"].as_str().unwrap_or("?")
                    ));
                }
            }
            let mut bodies = vec![];
            if let Some(content) = op["requestBody"]["content"].as_object() {
                for (media, c) in content {
                    bodies.push((format!("{at} request {media}"), &c["schema"]));
                }
            }
            for (status, response) in op["responses"].as_object().into_iter().flatten() {
                for (media, c) in response["content"].as_object().into_iter().flatten() {
                    bodies.push((format!("{at} {status} {media}"), &c["schema"]));
                }
            }
            for (loc, schema) in bodies {
                walk(doc, schema, schema, "", &mut |prop| {
                    missing.push(format!("{loc}: {prop} has no description"))
                });
            }
        }
    }
    missing
}

/// Calls `report` with the location of each property under `schema` that has no
/// description, on the property or on the schema its `$ref` names.
fn walk(doc: &Value, root: &Value, schema: &Value, loc: &str, report: &mut dyn FnMut(String)) {
    fn resolve<'a>(doc: &'a Value, root: &'a Value, schema: &'a Value) -> &'a Value {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(r) if r.starts_with("#/components/") => {
                resolve(doc, root, doc.pointer(&r[1..]).expect("$ref resolves"))
            }
            Some(r) if r.starts_with("#/$defs/") => {
                resolve(doc, root, root.pointer(&r[1..]).expect("$ref resolves"))
            }
            _ => schema,
        }
    }
    let here = |key: &str| {
        if loc.is_empty() {
            key.to_string()
        } else {
            format!("{loc}/{key}")
        }
    };
    // Deep enough for every real document; a cycle of references stops here.
    if loc.matches('/').count() > 24 {
        return;
    }
    let schema = resolve(doc, root, schema);
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (name, prop) in props {
            let text = |v: &Value| {
                v.get("description")
                    .and_then(Value::as_str)
                    .is_some_and(|d| !d.trim().is_empty())
            };
            if !text(prop) && !text(resolve(doc, root, prop)) {
                report(here(name));
            }
            walk(doc, root, prop, &here(name), report);
        }
    }
    for key in ["items", "additionalProperties", "not"] {
        if let Some(sub) = schema.get(key).filter(|s| s.is_object()) {
            walk(doc, root, sub, &here(key), report);
        }
    }
    for key in ["anyOf", "oneOf", "allOf", "prefixItems"] {
        for (i, sub) in schema
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            walk(doc, root, sub, &here(&format!("{key}/{i}")), report);
        }
    }
}
