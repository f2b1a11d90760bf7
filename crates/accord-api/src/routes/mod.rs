//! The `/privacy-v1` router: one module per resource, plus health, documents, the
//! request-id middleware and the 404 fallback.
use crate::error::{error_body, json_response};
use crate::AppState;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::json;

pub mod api_keys;
pub mod compliance_request_events;
pub mod compliance_requests;
pub mod consent_events;
pub mod consent_types;
pub mod data_system_attributes;
pub mod data_systems;
pub mod domains;
pub mod emails;
pub mod features;
pub mod files;
pub mod identities;
pub mod organizations;
pub mod permissions;
pub mod projects;
pub mod records_of_processing;
pub mod sessions;
pub mod site;
pub mod site_consent;
pub mod site_requests;

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    let privacy = Router::new()
        .route("/health", get(health))
        .route("/docs/json", get(docs))
        .merge(compliance_requests::router())
        .merge(compliance_request_events::router())
        .merge(consent_types::router())
        .merge(consent_events::router())
        .merge(identities::router())
        .merge(files::router())
        .merge(organizations::router())
        .merge(projects::router())
        .merge(api_keys::router())
        .merge(permissions::router())
        .merge(features::router())
        .merge(domains::router())
        .merge(emails::router())
        .merge(sessions::router())
        .merge(data_systems::router())
        .merge(data_system_attributes::router())
        .merge(records_of_processing::router());
    Router::new()
        .nest("/privacy-v1", privacy)
        .route("/site-v1/health", get(health))
        .route("/site-v1/docs/json", get(site_docs))
        .merge(site::router())
        .merge(site_consent::router())
        .merge(site_requests::router())
        .fallback(not_found)
        .method_not_allowed_fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), cors))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::site::site_cors,
        ))
        .layer(middleware::from_fn(request_id))
        .with_state(state)
}

async fn health(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => json_response(StatusCode::OK, &json!({"status": "ok"})),
        Err(_) => error_body(503, "database unavailable"),
    }
}

async fn docs() -> Response {
    json_response(StatusCode::OK, crate::openapi::privacy_document())
}

async fn site_docs() -> Response {
    json_response(StatusCode::OK, crate::openapi::site_document())
}

async fn not_found(method: Method, req: Request) -> Response {
    error_body(
        404,
        &format!("Route {}:{} not found", method, req.uri().path()),
    )
}

/// Echoes a sane incoming `x-request-id` or makes one, and logs the request with it.
async fn request_id(mut req: Request, next: Next) -> Response {
    let incoming = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| (1..=128).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_string);
    let id = incoming.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let value = HeaderValue::from_str(&id).unwrap_or_else(|_| HeaderValue::from_static("invalid"));
    req.headers_mut().insert("x-request-id", value.clone());
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let started = std::time::Instant::now();
    let mut res = next.run(req).await;
    let status = res.status().as_u16();
    if status >= 500 {
        tracing::error!(request_id = %id, %method, %path, status, "request failed");
    } else {
        tracing::debug!(request_id = %id, %method, %path, status, micros = started.elapsed().as_micros() as u64, "request");
    }
    res.headers_mut().insert("x-request-id", value);
    res
}

/// CORS for `/privacy-v1`: headers only for origins listed in `ACCORD_CORS_ORIGINS`.
async fn cors(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let origin = req
        .headers()
        .get("origin")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let allowed = origin.filter(|o| {
        req.uri().path().starts_with("/privacy-v1")
            && state.config.cors_origins.iter().any(|a| a == "*" || a == o)
    });
    let preflight = req.method() == Method::OPTIONS
        && req.headers().contains_key("access-control-request-method");
    let mut res = if preflight && allowed.is_some() {
        StatusCode::NO_CONTENT.into_response()
    } else {
        next.run(req).await
    };
    if let Some(o) = allowed {
        let h = res.headers_mut();
        h.insert(
            "access-control-allow-origin",
            HeaderValue::from_str(&o).unwrap_or(HeaderValue::from_static("null")),
        );
        h.insert("vary", HeaderValue::from_static("Origin"));
        if preflight {
            h.insert(
                "access-control-allow-methods",
                HeaderValue::from_static("GET, POST, PATCH, DELETE, OPTIONS"),
            );
            h.insert(
                "access-control-allow-headers",
                HeaderValue::from_static("content-type, x-api-key, x-request-id"),
            );
            h.insert("access-control-max-age", HeaderValue::from_static("600"));
        }
        h.insert(
            "access-control-expose-headers",
            HeaderValue::from_static("x-request-id, retry-after"),
        );
    }
    res
}
