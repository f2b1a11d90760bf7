//! `/privacy-v1/organizations/{organizationId}/projects/{projectId}/consent-types`: list,
//! create, get, PATCH and delete (§4.1, §4.2).
use crate::error::{json_response, ApiResult};
use crate::extract::{Admin, JsonBody, ProjectScope, Viewer};
use crate::routes::compliance_requests::page_envelope;
use crate::AppState;
use accord_core::consent::{
    self, ConsentTypeFilter, CATEGORIES, SUBCATEGORY_PATTERN, TYPE_SORTS, TYPE_STATUSES,
};
use accord_core::query::{self, p, paging, Kind, Page, Param};
use accord_core::schema::{check_str, string};
use accord_core::time::now_ms;
use accord_core::Error;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};
use std::sync::OnceLock;

pub const COLLECTION: &str = "/organizations/{organizationId}/projects/{projectId}/consent-types";
pub const ONE: &str =
    "/organizations/{organizationId}/projects/{projectId}/consent-types/{consentTypeId}";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(COLLECTION, get(list).post(create))
        .route(ONE, get(get_one).patch(update).delete(delete))
}

/// Query of the list (§4.2). `subcategory` is read by [`subcategory_filter`].
pub fn list_params() -> &'static [Param] {
    static P: OnceLock<Vec<Param>> = OnceLock::new();
    P.get_or_init(|| {
        let mut v = paging(TYPE_SORTS);
        v.extend([
            p("category", Kind::Str(string().one_of(CATEGORIES))),
            p("label", Kind::Str(string().max(128))),
            p("name", Kind::Str(string().max(100))),
            p("url", Kind::Str(string())),
            p(
                "version",
                Kind::Int {
                    min: Some(1),
                    max: None,
                },
            ),
            p("status", Kind::Str(string().one_of(TYPE_STATUSES))),
        ]);
        v
    })
}

/// The `subcategory` filter: a string or an array (repeated key or `subcategory[]`), each
/// value lowercased and matched against the subcategory pattern.
pub fn subcategory_filter(raw: Option<&str>) -> Result<Vec<String>, Error> {
    let rule = string().max(128).pattern(SUBCATEGORY_PATTERN);
    let loc = "querystring/subcategory";
    let values = query::split(raw).remove("subcategory").unwrap_or_default();
    let mut out = Vec::with_capacity(values.len());
    for v in values {
        let v = v.to_lowercase();
        if v.is_empty() {
            return Err(Error::bad(format!(
                "{loc} must match pattern \"{SUBCATEGORY_PATTERN}\""
            )));
        }
        check_str(&rule, &v, loc).map_err(Error::BadRequest)?;
        out.push(v);
    }
    Ok(out)
}

/// The published query parameter of [`subcategory_filter`].
pub fn subcategory_param_schema() -> Value {
    json!({"name": "subcategory", "in": "query", "required": false,
        "schema": consent::subcategory_input_json_schema()})
}

/// The response schema of a ConsentType (§4.2).
pub fn schema() -> Value {
    let s = json!({"type": "string"});
    let uuid = json!({"type": "string", "format": "uuid"});
    let date = json!({"type": "string", "format": "date-time"});
    json!({"type": "object", "additionalProperties": false,
        "required": ["id", "organization", "project", "category", "subcategory", "label", "name", "readOnly", "validStates", "status", "consentDuration", "required", "version", "dateCreated", "dateUpdated"],
        "properties": {
            "id": uuid, "organization": uuid, "project": uuid,
            "category": {"type": "string", "enum": CATEGORIES},
            "subcategory": {"type": "array", "items": {"type": "string", "pattern": SUBCATEGORY_PATTERN}},
            "label": {"type": "string", "pattern": consent::LABEL_PATTERN},
            "name": s, "description": s, "document": s, "url": {"type": "string", "format": "uri"},
            "readOnly": {"type": "boolean"},
            "validStates": {"type": "array", "items": {"type": "string", "enum": consent::STATES}},
            "status": {"type": "string", "enum": TYPE_STATUSES},
            "consentDuration": s, "required": {"type": "boolean"},
            "requireReacceptVersion": {"type": "integer", "minimum": 1},
            "version": {"type": "integer", "minimum": 1},
            "dateCreated": date, "dateUpdated": date}})
}

async fn list(
    State(state): State<AppState>,
    scope: ProjectScope<Viewer>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let org = scope.org;
    let pid = scope.project_id;
    let q = query::parse(raw.as_deref(), list_params())?;
    let subcategory = subcategory_filter(raw.as_deref())?;
    scope.project()?;
    let page = Page::from_query(&q, "dateCreated");
    let s = |k: &str| q.str(k).map(str::to_string);
    let filter = ConsentTypeFilter {
        organization_id: org,
        project_id: pid,
        category: s("category"),
        subcategory,
        label: s("label"),
        name: s("name"),
        url: s("url"),
        version: q.int("version"),
        status: s("status"),
    };
    let (total, items) = state.store.list_consent_types(&filter, &page).await?;
    let items = items.iter().map(|t| t.to_wire()).collect();
    Ok(json_response(
        StatusCode::OK,
        &page_envelope(&page, total, items),
    ))
}

async fn create(
    State(state): State<AppState>,
    scope: ProjectScope<Admin>,
    JsonBody(raw): JsonBody,
) -> ApiResult<Response> {
    let input = consent::parse_type_create(&raw)?;
    let project = scope.project()?;
    let created = state.store.create_consent_type(project, input).await?;
    Ok(json_response(StatusCode::CREATED, &created.to_wire()))
}

async fn get_one(
    State(state): State<AppState>,
    scope: ProjectScope<Viewer>,
) -> ApiResult<Response> {
    let org = scope.org;
    let pid = scope.project_id;
    let id = scope.id("consentTypeId")?;
    scope.project()?;
    let t = state
        .store
        .get_consent_type(org, pid, id)
        .await?
        .ok_or_else(Error::not_found)?;
    Ok(json_response(StatusCode::OK, &t.to_wire()))
}

async fn update(
    State(state): State<AppState>,
    scope: ProjectScope<Admin>,
    JsonBody(raw): JsonBody,
) -> ApiResult<Response> {
    let org = scope.org;
    let pid = scope.project_id;
    let id = scope.id("consentTypeId")?;
    let patch = consent::parse_type_patch(&raw)?;
    scope.project()?;
    let updated = state
        .store
        .update_consent_type(
            org,
            pid,
            id,
            Box::new(move |t| consent::apply_type_patch(t, &patch, now_ms())),
        )
        .await?
        .ok_or_else(Error::not_found)?;
    Ok(json_response(StatusCode::OK, &updated.to_wire()))
}

async fn delete(State(state): State<AppState>, scope: ProjectScope<Admin>) -> ApiResult<Response> {
    let org = scope.org;
    let pid = scope.project_id;
    let id = scope.id("consentTypeId")?;
    scope.project()?;
    let deleted = state
        .store
        .delete_consent_type(org, pid, id)
        .await?
        .ok_or_else(Error::not_found)?;
    Ok(json_response(StatusCode::OK, &deleted.to_wire()))
}
