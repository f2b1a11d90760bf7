//! `/privacy-v1/organizations/{organizationId}/projects/{projectId}/consent-events`: list,
//! create 1..1000 (all or nothing) and get one (§4.1, §4.3).
use crate::error::{json_response, ApiResult};
use crate::extract::{JsonBody, Limited, ProjectScope, Viewer};
use crate::routes::compliance_requests::page_envelope;
use crate::routes::consent_types::subcategory_filter;
use crate::AppState;
use accord_core::consent::{
    self, Api, ConsentEventFilter, ACTIONS, CATEGORIES, EVENT_SORTS, STATES,
};
use accord_core::query::{self, p, paging, uuid_param, Kind, Page, Param};
use accord_core::schema::string;
use accord_core::usecases::consent_events::{self, Recorder};
use accord_core::Error;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};
use std::sync::OnceLock;
use uuid::Uuid;

pub const COLLECTION: &str = "/organizations/{organizationId}/projects/{projectId}/consent-events";
pub const ONE: &str =
    "/organizations/{organizationId}/projects/{projectId}/consent-events/{consentEventId}";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(COLLECTION, get(list).post(create))
        .route(ONE, get(get_one))
}

/// Query of the list (§4.3). `subcategory` is read by [`subcategory_filter`].
pub fn list_params() -> &'static [Param] {
    static P: OnceLock<Vec<Param>> = OnceLock::new();
    P.get_or_init(|| {
        let s64 = || Kind::Str(string().max(64));
        let mut v = paging(EVENT_SORTS);
        v.extend([
            p("startDate", Kind::DateTime),
            p("endDate", Kind::DateTime),
            p("category", Kind::EnumList(CATEGORIES)),
            p("label", Kind::Str(string().max(128))),
            p("consentState", Kind::EnumList(STATES)),
            p("consentAction", Kind::EnumList(ACTIONS)),
            p("consentType", uuid_param()),
            p("concordId", s64()),
            p("submitter", s64()),
            p("sessionId", s64()),
            p("domain", Kind::Str(string().max(253))),
            p("geography", s64()),
        ]);
        v
    })
}

/// The embedded session object (§5.2).
pub fn session_schema() -> Value {
    let s = json!({"type": "string"});
    json!({"type": "object", "additionalProperties": false, "properties": {
        "id": {"type": "string", "format": "uuid"}, "ipAddress": {"type": "string", "format": "ipv4"},
        "domain": s, "geography": s, "userAgent": s}})
}

/// The response schema of a ConsentEvent (§4.3).
pub fn schema() -> Value {
    let uuid = json!({"type": "string", "format": "uuid"});
    let date = json!({"type": "string", "format": "date-time"});
    json!({"type": "object", "additionalProperties": false,
        "required": ["id", "concordId", "organization", "project", "category", "subcategory", "consentState", "consentAction", "consentDate", "expirationDate", "dateCreated", "dateUpdated"],
        "properties": {
            "id": uuid, "concordId": uuid, "organization": uuid, "project": uuid, "consentType": uuid,
            "category": {"type": "string", "enum": CATEGORIES},
            "subcategory": {"type": "array", "items": {"type": "string"}},
            "label": {"type": "string", "maxLength": 128, "pattern": consent::LABEL_PATTERN},
            "consentState": {"type": "string", "enum": STATES},
            "consentAction": {"type": "string", "enum": ACTIONS},
            "consentDate": date, "expirationDate": date,
            "version": {"type": "integer"},
            "session": session_schema(),
            "submitter": uuid,
            "dateCreated": date, "dateUpdated": date}})
}

/// `{count, items}` of a create.
pub fn created_schema() -> Value {
    json!({"type": "object", "additionalProperties": false, "required": ["count", "items"], "properties": {
        "count": {"type": "integer"}, "items": {"type": "array", "items": schema()}}})
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
    let l = |k: &str| q.list(k).map(<[String]>::to_vec).unwrap_or_default();
    let filter = ConsentEventFilter {
        organization_id: org,
        project_id: pid,
        start_date: q.date("startDate"),
        end_date: q.date("endDate"),
        category: l("category"),
        subcategory,
        label: s("label"),
        consent_state: l("consentState"),
        consent_action: l("consentAction"),
        consent_type: q.str("consentType").and_then(|v| Uuid::parse_str(v).ok()),
        concord_id: s("concordId"),
        submitter: s("submitter"),
        session_id: s("sessionId"),
        domain: s("domain"),
        geography: s("geography"),
    };
    let (total, items) = state.store.list_consent_events(&filter, &page).await?;
    let items = items.iter().map(|e| e.to_wire()).collect();
    Ok(json_response(
        StatusCode::OK,
        &page_envelope(&page, total, items),
    ))
}

async fn create(
    State(state): State<AppState>,
    scope: ProjectScope<Limited>,
    JsonBody(raw): JsonBody,
) -> ApiResult<Response> {
    let inputs = consent::parse_events_body(&raw, Api::Privacy)?;
    let events = consent_events::create(
        state.store.as_ref(),
        &state.ingest,
        scope.project()?,
        inputs,
        Recorder::ApiKey(scope.who.key_id),
    )
    .await?;
    let items: Vec<Value> = events.iter().map(|e| e.to_wire()).collect();
    Ok(json_response(
        StatusCode::CREATED,
        &json!({"count": items.len(), "items": items}),
    ))
}

async fn get_one(
    State(state): State<AppState>,
    scope: ProjectScope<Viewer>,
) -> ApiResult<Response> {
    let org = scope.org;
    let pid = scope.project_id;
    let id = scope.id("consentEventId")?;
    scope.project()?;
    let e = state
        .store
        .get_consent_event(org, pid, id)
        .await?
        .ok_or_else(Error::not_found)?;
    Ok(json_response(StatusCode::OK, &e.to_wire()))
}
