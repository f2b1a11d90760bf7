//! What is published is what is returned: every JSON response the HTTP tests receive is
//! validated, on its way out of the real server, against the response schema that the
//! served OpenAPI document publishes for its route, method and status, with a real JSON
//! Schema validator (formats included). A response that does not match, or whose status
//! the document does not list, is replaced by a 599 naming the violation, so the test that
//! received it fails with the reason; violations are also printed.
use axum::body::{to_bytes, Body};
use axum::extract::{MatchedPath, Request};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use jsonschema::Validator;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// Compiled validators by (document, path, method, status).
type Cache = Mutex<HashMap<(bool, String, String, u16), Arc<Result<Validator, String>>>>;

fn cache() -> &'static Cache {
    static C: OnceLock<Cache> = OnceLock::new();
    C.get_or_init(Cache::default)
}

/// The document a served path belongs to, and the path as that document names it.
pub fn documented(path: &str) -> Option<(bool, &'static Value, String)> {
    if let Some(rest) = path.strip_prefix("/privacy-v1") {
        return Some((
            true,
            accord_api::openapi::privacy_document(),
            rest.to_string(),
        ));
    }
    path.strip_prefix("/site-v1").map(|rest| {
        (
            false,
            accord_api::openapi::site_document(),
            rest.to_string(),
        )
    })
}

/// The published schema of one response, with the document's components beside it so that
/// `#/components/…` references resolve.
pub fn response_schema(doc: &Value, path: &str, method: &str, status: u16) -> Option<Value> {
    let item = doc["paths"].get(path)?;
    let Some(op) = item.get(method) else {
        // An unrouted method on a known path is an unknown route: the error body.
        return Some(
            json!({"$ref": "#/components/schemas/Error", "components": doc["components"].clone()}),
        );
    };
    let response = op["responses"].get(status.to_string())?;
    let mut schema = response["content"]
        .get("application/json")?
        .get("schema")?
        .clone();
    if let Some(obj) = schema.as_object_mut() {
        obj.insert("components".into(), doc["components"].clone());
    } else {
        schema = json!({"allOf": [schema], "components": doc["components"].clone()});
    }
    Some(schema)
}

fn validator(
    privacy: bool,
    doc: &Value,
    path: &str,
    method: &str,
    status: u16,
) -> Arc<Result<Validator, String>> {
    let key = (privacy, path.to_string(), method.to_string(), status);
    if let Some(v) = cache().lock().unwrap().get(&key) {
        return v.clone();
    }
    let compiled = match response_schema(doc, path, method, status) {
        None => Err(format!(
            "{} {path} answered {status}, which the document does not list",
            method.to_uppercase()
        )),
        Some(schema) => jsonschema::options()
            .should_validate_formats(true)
            .build(&schema)
            .map_err(|e| format!("published schema of {method} {path} {status} is invalid: {e}")),
    };
    let v = Arc::new(compiled);
    cache().lock().unwrap().insert(key, v.clone());
    v
}

/// Checks one response body; `Err` names every violation.
pub fn check(route: &str, method: &Method, status: u16, body: &Value) -> Result<(), String> {
    let Some((privacy, doc, path)) = documented(route) else {
        return Ok(());
    };
    let method = method.as_str().to_ascii_lowercase();
    let v = validator(privacy, doc, &path, &method, status);
    let validator = v.as_ref().as_ref().map_err(Clone::clone)?;
    violations(validator, body, "").map_err(|errors| {
        format!(
            "{} {route} {status}: response does not match its published schema: {errors}",
            method.to_uppercase()
        )
    })
}

/// Every violation of `value` against `validator`, each at its location under `loc`.
pub fn violations(validator: &Validator, value: &Value, loc: &str) -> Result<(), String> {
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|e| format!("{loc}{}: {e}", e.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

/// The route layer the test server runs: validates each JSON response of a matched route.
pub async fn validate_responses(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string());
    let method = req.method().clone();
    let res = next.run(req).await;
    let Some(route) = route else {
        return res;
    };
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json || method == Method::OPTIONS || res.headers().contains_key(header::CONTENT_ENCODING)
    {
        return res;
    }
    let (parts, body) = res.into_parts();
    let bytes = to_bytes(body, usize::MAX).await.unwrap_or_default();
    let status = parts.status.as_u16();
    let verdict = serde_json::from_slice::<Value>(&bytes)
        .map_err(|e| format!("{method} {route} {status}: body is not JSON: {e}"))
        .and_then(|value| check(&route, &method, status, &value));
    match verdict {
        Ok(()) => Response::from_parts(parts, Body::from(bytes)),
        Err(violation) => {
            eprintln!("CONFORMANCE: {violation}");
            (StatusCode::from_u16(599).unwrap(), violation).into_response()
        }
    }
}
