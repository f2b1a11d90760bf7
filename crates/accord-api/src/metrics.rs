//! Prometheus metrics, served on their own listen address (`--metrics-listen`) and off by
//! default. Request count and latency by method, matched route and status; the consent
//! ingest queue depth and batch sizes; the memory reserved by large request bodies; the
//! outgoing-message backlog; database pool use; and background job runs. Gauges that describe state are read when scraped.
use crate::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub const HTTP_REQUESTS: &str = "accord_http_requests_total";
pub const HTTP_DURATION: &str = "accord_http_request_duration_seconds";
pub const INGEST_QUEUE_DEPTH: &str = "accord_ingest_queue_depth";
pub const INGEST_BATCH_EVENTS: &str = "accord_ingest_batch_events";
pub const BODY_MEMORY_RESERVED: &str = "accord_body_memory_reserved_bytes";
pub const MESSAGE_BACKLOG: &str = "accord_outgoing_messages_backlog";
pub const DB_POOL_CONNECTIONS: &str = "accord_db_pool_connections";
pub const JOB_RUNS: &str = "accord_job_runs_total";

/// Set once a recorder is installed: until then recording costs nothing.
static ENABLED: AtomicBool = AtomicBool::new(false);

const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const BATCH_BUCKETS: &[f64] = &[1.0, 10.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0];

/// Installs the process-wide recorder. Call once, before serving.
pub fn install() -> Result<PrometheusHandle, String> {
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.into()), LATENCY_BUCKETS)
        .and_then(|b| {
            b.set_buckets_for_metric(Matcher::Full(INGEST_BATCH_EVENTS.into()), BATCH_BUCKETS)
        })
        .map_err(|e| e.to_string())?
        .build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).map_err(|e| e.to_string())?;
    ENABLED.store(true, Ordering::Relaxed);
    Ok(handle)
}

fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// One answered request.
pub fn record_request(method: &str, route: &str, status: u16, latency: Duration) {
    if !enabled() {
        return;
    }
    let labels = [
        ("method", method.to_string()),
        ("route", route.to_string()),
        ("status", status.to_string()),
    ];
    metrics::counter!(HTTP_REQUESTS, &labels).increment(1);
    metrics::histogram!(HTTP_DURATION, &labels).record(latency.as_secs_f64());
}

/// One committed batch of the consent-event writer.
pub fn record_batch(events: usize) {
    if enabled() {
        metrics::histogram!(INGEST_BATCH_EVENTS).record(events as f64);
    }
}

/// One run of a background job; `ok` is false when it failed.
pub fn record_job(job: &'static str, ok: bool) {
    if enabled() {
        let outcome = if ok { "ok" } else { "error" };
        metrics::counter!(JOB_RUNS, "job" => job, "outcome" => outcome).increment(1);
    }
}

/// The router of the metrics listener: `GET /metrics`.
pub fn router(state: AppState, handle: PrometheusHandle) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state((state, handle))
}

async fn scrape(State((state, handle)): State<(AppState, PrometheusHandle)>) -> Response {
    metrics::gauge!(INGEST_QUEUE_DEPTH).set(state.ingest.queued() as f64);
    metrics::gauge!(BODY_MEMORY_RESERVED).set(state.body_budget.reserved() as f64);
    for p in state.store.pool_stats() {
        let idle = p.idle.min(p.size);
        metrics::gauge!(DB_POOL_CONNECTIONS, "pool" => p.pool, "state" => "idle").set(idle);
        metrics::gauge!(DB_POOL_CONNECTIONS, "pool" => p.pool, "state" => "in_use")
            .set(p.size - idle);
    }
    match state.store.message_backlog().await {
        Ok(n) => metrics::gauge!(MESSAGE_BACKLOG).set(n as f64),
        Err(e) => tracing::warn!(error = %e, "could not count the outgoing-message backlog"),
    }
    handle.run_upkeep();
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle.render(),
    )
        .into_response()
}
