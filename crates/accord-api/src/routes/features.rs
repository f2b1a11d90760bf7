//! `GET /privacy-v1/organizations/{organizationId}/features` (§7.11): everything enabled,
//! nothing licensed, and what the organization currently uses.
use crate::error::ApiResult;
use crate::extract::{OrgScope, Viewer};
use crate::respond::{ok, Json};
use crate::AppState;
use accord_core::admin::{Allowance, FeatureFlags, Features, SessionAllowance};
use axum::extract::State;
use axum::routing::get;
use axum::Router;
use chrono::{Datelike, TimeZone, Utc};

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

async fn get_features(
    State(state): State<AppState>,
    scope: OrgScope<Viewer>,
) -> ApiResult<Json<Features>> {
    let org = scope.org.id;
    let usage = state.store.organization_usage(org, month_start()).await?;
    let policies = state.store.policy_count(org).await?;
    Ok(ok(Features {
        data_systems: Allowance::unlimited(usage.data_systems),
        domains: Allowance::unlimited(usage.domains),
        policies: Allowance::unlimited(policies),
        users: Allowance::unlimited(state.store.user_count(org).await?),
        privacy_requests: Allowance::unlimited(usage.compliance_requests_this_month),
        sessions: SessionAllowance {
            licensed: None,
            used: usage.sessions_this_month,
        },
        features: FeatureFlags::SELF_HOSTED,
    }))
}
