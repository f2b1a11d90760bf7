//! The whole HTTP application: the `/privacy-v1` and `/site-v1` routers, health and the
//! OpenAPI documents, the 404 fallback, and the layers every request passes through
//! (request id, tracing span and access log, metrics, URI length, body timeout, the
//! memory budget of large bodies, compression, CORS).
use crate::error::{error_body, json_response};
use crate::routes::*;
use crate::AppState;
use axum::extract::{MatchedPath, OriginalUri, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::time::Duration;
use tower::util::MapRequestLayer;
use tower_http::compression::predicate::SizeAbove;
use tower_http::compression::CompressionLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::RequestBodyTimeoutLayer;
use tower_http::trace::TraceLayer;
use tracing::Span;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// Responses smaller than this are sent uncompressed: gzip would not pay for itself.
const COMPRESS_ABOVE: u16 = 1024;
/// Longest request target (path and query) served; a longer one is answered 414.
pub const MAX_URI_BYTES: usize = 8192;

/// The route a request matched, carried on its response for the access log and metrics.
/// It is known only inside the router, so the route layers that every route already has
/// (the CORS layers of both APIs) put it on the response; no extra layer per request.
#[derive(Clone)]
pub(crate) struct RouteTag {
    route: MatchedPath,
    method: Method,
}

impl RouteTag {
    /// The tag of a routed request.
    pub(crate) fn of(req: &Request) -> Option<RouteTag> {
        Some(RouteTag {
            route: req.extensions().get::<MatchedPath>()?.clone(),
            method: req.method().clone(),
        })
    }

    /// Puts the tag on the response.
    pub(crate) fn mark(tag: Option<RouteTag>, mut res: Response) -> Response {
        if let Some(tag) = tag {
            res.extensions_mut().insert(tag);
        }
        res
    }
}

/// The whole HTTP application: [`routes`] inside the layers of [`every_request`].
pub fn router(state: AppState) -> impl App {
    let body_timeout = state.config.body_timeout;
    every_request(routes(state), body_timeout)
}

/// The whole HTTP application as one service, as [`crate::server::serve`] runs it.
pub trait App:
    tower::Service<
        Request,
        Response = Response,
        Error = std::convert::Infallible,
        Future: Send + 'static,
    > + Clone
    + Send
    + Sync
    + 'static
{
}

impl<S> App for S where
    S: tower::Service<
            Request,
            Response = Response,
            Error = std::convert::Infallible,
            Future: Send + 'static,
        > + Clone
        + Send
        + Sync
        + 'static
{
}

/// The routes of both APIs, health, the documents and the 404 fallback, without the layers
/// every request passes through.
pub fn routes(state: AppState) -> Router {
    let privacy = Router::new()
        .route("/health", get(health))
        .route("/docs/json", get(docs))
        .route("/docs", get(crate::reference::privacy_page))
        .route("/docs/reference.js", get(crate::reference::script))
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
        .merge(regions::router())
        .merge(emails::router())
        .merge(policies::router())
        .merge(trackers::router())
        .merge(tracker_scans::router())
        .merge(gcm_scans::router())
        .merge(metrics::router())
        .merge(users::router())
        .merge(sessions::router())
        .merge(data_systems::router())
        .merge(data_system_attributes::router())
        .merge(records_of_processing::router())
        // Before the route layer, so that the layer also wraps the fallback of a known path
        // with an unrouted method (a CORS preflight is one).
        .method_not_allowed_fallback(not_found)
        .route_layer(middleware::from_fn_with_state(state.clone(), privacy_cors))
        // Only here: a Site API body is at most 64 KiB (§1.6), too small to count.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::budget::count_bodies,
        ));
    let site = Router::new()
        .merge(site::router())
        .merge(site_consent::router())
        .merge(site_requests::router())
        .merge(site_trackers::router())
        .merge(site_client::router())
        .method_not_allowed_fallback(not_found)
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            crate::site::site_cors,
        ));
    Router::new()
        .nest("/privacy-v1", privacy)
        .route(
            "/site-v1/health",
            get(health).route_layer(middleware::from_fn(tag_route)),
        )
        .route(
            "/site-v1/docs/json",
            get(site_docs).route_layer(middleware::from_fn(tag_route)),
        )
        .route(
            "/site-v1/docs",
            get(crate::reference::site_page).route_layer(middleware::from_fn(tag_route)),
        )
        .route(
            "/site-v1/docs/reference.js",
            get(crate::reference::script).route_layer(middleware::from_fn(tag_route)),
        )
        .nest("/console", crate::console::router())
        .merge(site)
        .fallback(not_found)
        .method_not_allowed_fallback(not_found)
        .with_state(state)
}

/// Wraps `routes` in the layers every request passes through (request id, tracing span and
/// access log, URI length, compression, body timeout), once, as one service (the outermost
/// first). `Router::layer` would wrap each route on its own, and each request would then
/// clone its route's whole boxed stack of layers; and the service is not put back into a
/// `Router`, which would route every request twice.
pub fn every_request(routes: Router, body_timeout: Duration) -> impl App {
    tower::ServiceBuilder::new()
        .map_response(|res: http::Response<_>| res.map(axum::body::Body::new))
        .layer(MapRequestLayer::new(drop_unusable_request_id))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_request(())
                .on_response(access_log)
                .on_failure(()),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(middleware::from_fn(refuse_long_uri))
        .layer(CompressionLayer::new().compress_when(Compressible))
        .layer(RequestBodyTimeoutLayer::new(body_timeout))
        // A handler that panics is a bug; its client still gets the contract's 500, and the
        // access log and request id as for any answer, not a dropped connection.
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked))
        .service(routes)
}

/// The answer to a request whose handler panicked; the panic goes to the log.
fn panicked(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("a handler panicked");
    crate::error::ApiError::from(accord_core::Error::internal(format!("panic: {detail}")))
        .into_response()
}

/// Worth compressing: over 1 KiB and not already compressed (images, PDFs, archives) nor a
/// stream. A type of its own without fields: the compression layer clones its predicate
/// for every request.
#[derive(Clone, Copy)]
struct Compressible;

impl tower_http::compression::Predicate for Compressible {
    fn should_compress<B>(&self, res: &http::Response<B>) -> bool
    where
        B: http_body::Body,
    {
        use tower_http::compression::predicate::NotForContentType;
        SizeAbove::new(COMPRESS_ABOVE)
            .and(NotForContentType::GRPC)
            .and(NotForContentType::IMAGES)
            .and(NotForContentType::SSE)
            .and(NotForContentType::const_new("application/pdf"))
            .and(NotForContentType::const_new("application/zip"))
            .and(NotForContentType::const_new("application/gzip"))
            .should_compress(res)
    }
}

/// The health answer (§1.8): the server is up and its database answers.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Health {
    /// Always `ok`: the server answers and its database does.
    #[schemars(extend("const" = "ok"))]
    pub status: &'static str,
}

async fn health(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => crate::respond::ok(Health { status: "ok" }).into_response(),
        Err(_) => error_body(503, "database unavailable"),
    }
}

async fn docs() -> Response {
    json_response(StatusCode::OK, crate::openapi::privacy_document())
}

async fn site_docs() -> Response {
    json_response(StatusCode::OK, crate::openapi::site_document())
}

/// Nested routers see their path without the prefix: the message names the path as sent.
async fn not_found(method: Method, OriginalUri(uri): OriginalUri) -> Response {
    error_body(404, &format!("Route {}:{} not found", method, uri.path()))
}

/// A request target over [`MAX_URI_BYTES`] is answered 414 before anything else.
async fn refuse_long_uri(req: Request, next: Next) -> Response {
    let uri = req.uri();
    let len = uri.path_and_query().map_or(0, |p| p.as_str().len())
        + uri.authority().map_or(0, |a| a.as_str().len());
    if len > MAX_URI_BYTES {
        return error_body(
            414,
            &format!("URI exceeds the maximum length of {MAX_URI_BYTES} bytes"),
        );
    }
    next.run(req).await
}

/// An incoming `x-request-id` is echoed only when it is 1–128 visible ASCII characters
/// (§1.1); anything else is dropped so that a fresh id is made for the request.
fn drop_unusable_request_id(mut req: Request) -> Request {
    let usable = req.headers().get(&REQUEST_ID).is_none_or(|v| {
        (1..=128).contains(&v.len()) && v.as_bytes().iter().all(|b| b.is_ascii_graphic())
    });
    if !usable {
        req.headers_mut().remove(&REQUEST_ID);
    }
    req
}

/// The span every log line of a request is written in.
fn request_span(req: &Request) -> Span {
    let id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path())
}

/// One line per request at the default level, and the request metrics. A failed request's
/// line is written at error level and names its request id itself, so that it is there
/// even when the (info-level) request span is filtered out.
fn access_log(res: &Response, latency: Duration, _span: &Span) {
    let (method, route) = res
        .extensions()
        .get::<RouteTag>()
        .map_or(("-", "unmatched"), |t| {
            (method_label(&t.method), t.route.as_str())
        });
    let status = res.status().as_u16();
    crate::metrics::record_request(method, route, status, latency);
    let millis = latency.as_secs_f64() * 1000.0;
    if status >= 500 {
        let id = res
            .headers()
            .get(&REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        tracing::error!(
            request_id = id,
            route,
            status,
            duration_ms = millis,
            "request failed"
        );
    } else {
        tracing::info!(route, status, duration_ms = millis, "request");
    }
}

/// The method as a metric label: the methods a client can route, anything else `other`, so
/// that made-up methods cannot grow the series without bound.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::HEAD => "HEAD",
        _ => "other",
    }
}

/// Carries the matched route onto the response, for the routes outside both APIs' CORS
/// layers.
async fn tag_route(req: Request, next: Next) -> Response {
    let tag = RouteTag::of(&req);
    RouteTag::mark(tag, next.run(req).await)
}

/// CORS for `/privacy-v1` routes: headers only for origins listed in `ACCORD_CORS_ORIGINS`
/// (§1.1). It is a route layer, so a preflight on a path that does not exist is a 404.
///
/// Hand-written rather than `tower_http::cors`: that layer answers every `OPTIONS` itself,
/// with 200 and also for origins that are not allowed, where the contract wants 204 for an
/// allowed preflight and the ordinary answer (404) otherwise.
async fn privacy_cors(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let tag = RouteTag::of(&req);
    let origin = req
        .headers()
        .get("origin")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let allowed = origin.filter(|o| state.config.cors_origins.iter().any(|a| a == "*" || a == o));
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
    RouteTag::mark(tag, res)
}
