//! `GET /privacy-v1/organizations/{organizationId}/permissions`: the caller's effective
//! roles in an organization and each of its projects (§7.12).
use crate::error::ApiResult;
use crate::extract::BasicAccess;
use crate::respond::{ok, Json};
use crate::AppState;
use accord_core::admin::{CallerPermissions, ProjectRole};
use axum::extract::State;
use axum::routing::get;
use axum::Router;

pub fn router() -> Router<AppState> {
    Router::new().route("/organizations/{organizationId}/permissions", get(get_one))
}

async fn get_one(
    State(_state): State<AppState>,
    access: BasicAccess,
) -> ApiResult<Json<CallerPermissions>> {
    let BasicAccess { who, org, projects } = access;
    let projects = projects
        .iter()
        .map(|p| ProjectRole {
            project_id: p.id,
            project_name: p.name.clone(),
            role: who.project_role(org.id, p.id).as_str(),
        })
        .collect();
    Ok(ok(CallerPermissions {
        organization_id: org.id,
        organization_name: org.name,
        api_key_id: who.key_id,
        role: who.org_role(org.id).as_str(),
        projects,
    }))
}
