//! `POST /site-v1/{projectId}/trackers`: trackers the site client saw in the browser (§5.7),
//! recorded when the project's `settings.trackers.realTimeScan` is on.
use crate::error::ApiResult;
use crate::extract::read_json;
use crate::respond::{ok, Json};
use crate::site::{SiteSession, SITE_BODY_LIMIT};
use crate::AppState;
use accord_core::schema::published;
use accord_core::time::now_ms;
use accord_core::trackers::{self, SiteReportAnswer};
use accord_core::usecases::tracker_scans;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::Router;
use serde_json::{json, Map, Value};

pub fn router() -> Router<AppState> {
    Router::new().route("/site-v1/{projectId}/trackers", post(report))
}

/// Whether the project records what its sites report (§7.3 `settings.trackers.realTimeScan`).
fn real_time_scan(project: &accord_core::store::Project) -> bool {
    project
        .settings
        .pointer("/trackers/realTimeScan")
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

async fn report(
    State(state): State<AppState>,
    session: SiteSession,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<SiteReportAnswer>> {
    let raw = read_json(&headers, body, SITE_BODY_LIMIT).await?;
    let detections = trackers::parse_site_report(&raw)?;
    let project = &session.project;
    if !real_time_scan(project) {
        return Ok(ok(SiteReportAnswer {
            success: true,
            count: 0,
        }));
    }
    let now = now_ms();
    tracker_scans::record_detections(state.store.as_ref(), project, &detections, now).await?;
    state.store.set_last_real_time_scan(project.id, now).await?;
    Ok(ok(SiteReportAnswer {
        success: true,
        count: detections.len(),
    }))
}

/// The paths of this module, for the Site API document.
pub fn document(paths: &mut Map<String, Value>) {
    use crate::docs::op;
    let pid = vec![
        json!({"name": "projectId", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}}),
    ];
    let mut o = op(
        "Trackers",
        "Report trackers detected in the browser (real-time scan)", "Reports trackers the site client saw in the visitor's browser. With the project's `settings.trackers.realTimeScan` off, nothing is stored and `count` is 0; otherwise each item updates the `dateDetected` of the matching tracker or creates an `unclassified` one (`origin: autoscan`). Session holders only.",
        pid,
        Some(trackers::site_report_schema().json_schema()),
        200,
        published::<SiteReportAnswer>(),
        &[400, 401, 403, 404, 413, 415, 429, 500],
        true,
    );
    o["description"] = json!("When the project's `settings.trackers.realTimeScan` is on, each item is matched against the project's trackers by type and name, or by pattern and domain: a match gets `dateDetected`, anything else is created with `origin: \"autoscan\"` and `category: \"unclassified\"`, and `settings.trackers.lastRealTimeScan` is set. When it is off, nothing is stored and `count` is 0.");
    paths.insert("/{projectId}/trackers".into(), json!({"post": o}));
}
