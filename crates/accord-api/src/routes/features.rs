//! `GET /privacy-v1/organizations/{organizationId}/features` (§7.11): everything enabled,
//! nothing licensed, and what the organization currently uses.
use crate::error::{json_response, ApiResult};
use crate::extract::{OrgScope, Viewer};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use chrono::{Datelike, TimeZone, Utc};
use serde_json::{json, Value};

pub fn router() -> Router<AppState> {
    Router::new().route(
        "/organizations/{organizationId}/features",
        get(get_features),
    )
}

/// Start of the current UTC month in epoch ms.
fn month_start() -> i64 {
    let now = Utc::now();
    Utc.with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
        .single()
        .map(|d| d.timestamp_millis())
        .unwrap_or(0)
}

fn allowance(used: i64) -> Value {
    json!({"licensed": null, "used": used, "available": null})
}

async fn get_features(
    State(state): State<AppState>,
    scope: OrgScope<Viewer>,
) -> ApiResult<Response> {
    let org = scope.org.id;
    let usage = state.store.organization_usage(org, month_start()).await?;
    let body = json!({
        "dataSystems": allowance(usage.data_systems),
        "domains": allowance(usage.domains),
        "policies": allowance(0),
        "users": allowance(0),
        "privacyRequests": allowance(usage.compliance_requests_this_month),
        "sessions": {"licensed": null, "used": usage.sessions_this_month},
        "features": {
            "advancedPolicies": true, "apiAccess": true, "backendScanFrequency": "daily", "consentLog": true,
            "consentReengagement": true, "consentTypes": true, "dataMapping": true, "deepScan": true, "gpc": true,
            "integrationsZapier": true, "language": true, "privacyRequests": true, "realTimeScan": true,
            "regions": true, "widgetHidePoweredBy": true
        }
    });
    Ok(json_response(StatusCode::OK, &body))
}
