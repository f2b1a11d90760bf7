//! `GET /privacy-v1/organizations/{organizationId}/permissions`: the caller's effective
//! roles in an organization and each of its projects (§7.12).
use crate::error::{json_response, ApiResult};
use crate::extract::BasicAccess;
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

pub fn router() -> Router<AppState> {
    Router::new().route("/organizations/{organizationId}/permissions", get(get_one))
}

async fn get_one(State(_state): State<AppState>, access: BasicAccess) -> ApiResult<Response> {
    let BasicAccess { who, org, projects } = access;
    let projects: Vec<Value> = projects
        .iter()
        .map(|p| json!({"projectId": p.id, "projectName": p.name, "role": who.project_role(org.id, p.id).as_str()}))
        .collect();
    let body = json!({
        "organizationId": org.id,
        "organizationName": org.name,
        "apiKeyId": who.key_id,
        "role": who.org_role(org.id).as_str(),
        "projects": projects,
    });
    Ok(json_response(StatusCode::OK, &body))
}

/// Response schema of the caller's permissions (§7.12).
pub fn schema() -> Value {
    let s = json!({"type": "string"});
    let uuid = json!({"type": "string", "format": "uuid"});
    let role = json!({"type": "string", "enum": accord_core::auth::Role::NAMES});
    json!({"type": "object", "additionalProperties": false,
    "required": ["organizationId", "organizationName", "apiKeyId", "role", "projects"],
    "properties": {
        "organizationId": uuid, "organizationName": s, "apiKeyId": uuid, "role": role,
        "projects": {"type": "array", "items": {"type": "object", "additionalProperties": false,
            "required": ["projectId", "projectName", "role"],
            "properties": {"projectId": uuid, "projectName": s, "role": role}}}
    }})
}
