//! Identities of a project (§4.5): look-up, get, erasure, and the Privacy API consent state
//! of one identity (§4.4).
use crate::error::{json_response, ApiResult};
use crate::extract::{Admin, ProjectScope, Viewer};
use crate::routes::compliance_requests::page_envelope;
use crate::AppState;
use accord_core::compliance::Actor;
use accord_core::consent::{IdentityFilter, IdentityLookup, IDENTITY_SORTS};
use accord_core::query::{self, p, paging, Kind, Page, Param, Query};
use accord_core::schema::string;
use accord_core::Error;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use object_store::path::Path as ObjectPath;
use serde_json::{json, Value};
use std::sync::OnceLock;
use uuid::Uuid;

pub const COLLECTION: &str = "/organizations/{organizationId}/projects/{projectId}/identities";
pub const ONE: &str = "/organizations/{organizationId}/projects/{projectId}/identities/{concordId}";
pub const STATE: &str = "/organizations/{organizationId}/projects/{projectId}/consent-state";

/// The identifiers that name one identity, in the order of the contract's messages.
const IDENTIFIERS: [&str; 5] = [
    "concordId",
    "email",
    "phoneNumber",
    "userId",
    "projectUserId",
];

pub fn router() -> Router<AppState> {
    Router::new()
        .route(STATE, get(consent_state))
        .route(COLLECTION, get(list))
        .route(ONE, get(get_one).delete(erase))
}

fn identifier_params() -> [Param; 5] {
    [
        p("concordId", Kind::Str(string().max(64))),
        p("email", Kind::Str(string().max(254))),
        p("phoneNumber", Kind::Str(string().max(128))),
        p("userId", Kind::Str(string().max(256))),
        p("projectUserId", Kind::Str(string().max(256))),
    ]
}

/// Query of the consent-state look-up: exactly one identifier.
pub fn state_params() -> &'static [Param] {
    static P: OnceLock<Vec<Param>> = OnceLock::new();
    P.get_or_init(|| identifier_params().to_vec())
}

/// Query of the identity list (§4.5).
pub fn list_params() -> &'static [Param] {
    static P: OnceLock<Vec<Param>> = OnceLock::new();
    P.get_or_init(|| {
        let mut v = paging(IDENTITY_SORTS);
        v.extend(identifier_params());
        v
    })
}

/// Query of the erasure.
pub fn erase_params() -> &'static [Param] {
    static P: OnceLock<Vec<Param>> = OnceLock::new();
    P.get_or_init(|| vec![p("includeComplianceRequests", Kind::Bool)])
}

/// The response schema of an Identity (§4.5).
pub fn schema() -> Value {
    let s = json!({"type": "string"});
    let uuid = json!({"type": "string", "format": "uuid"});
    let int = json!({"type": "integer"});
    let address_line = json!({"type": "string", "maxLength": 256});
    let address: serde_json::Map<String, Value> = [
        "addressLine1",
        "addressLine2",
        "addressLine3",
        "city",
        "region",
        "postalCode",
        "county",
        "country",
    ]
    .iter()
    .map(|k| (k.to_string(), address_line.clone()))
    .collect();
    json!({"type": "object", "additionalProperties": false,
        "required": ["id", "organization", "project", "dateCreated", "dateUpdated"],
        "properties": {
            "id": uuid, "organization": uuid, "project": uuid,
            "email": s, "phoneNumber": s, "userId": s, "projectUserId": s,
            "firstName": s, "middleName": s, "lastName": s,
            "address": {"type": "object", "additionalProperties": false, "properties": address},
            "mergedInto": uuid, "erasedDate": int, "dateCreated": int, "dateUpdated": int}})
}

/// The response schema of the consent state (§4.4).
pub fn state_schema() -> Value {
    let uuid = json!({"type": "string", "format": "uuid"});
    let item = json!({"type": "object", "additionalProperties": false,
        "required": ["id", "concordId", "consentType", "consentState", "consentDate", "category", "subcategory", "label", "version"],
        "properties": {
            "id": uuid, "concordId": uuid, "consentType": uuid,
            "consentState": {"type": "string", "enum": accord_core::consent::STATES},
            "consentDate": {"type": "string", "format": "date-time"},
            "category": {"type": "string", "enum": accord_core::consent::CATEGORIES},
            "subcategory": {"type": "array", "items": {"type": "string"}},
            "label": {"type": "string"}, "version": {"type": "integer"},
            "url": {"type": "string"}}});
    json!({"type": "object", "additionalProperties": false, "required": ["count", "items"], "properties": {
        "count": {"type": "integer"}, "items": {"type": "array", "items": item}}})
}

/// The response schema of an erasure (§4.5).
pub fn erasure_schema() -> Value {
    let int = json!({"type": "integer", "minimum": 0});
    json!({"type": "object", "additionalProperties": false,
        "required": ["concordId", "consentEventsRedacted", "sessionsRedacted", "complianceRequestsRedacted"],
        "properties": {"concordId": {"type": "string", "format": "uuid"},
            "consentEventsRedacted": int, "sessionsRedacted": int, "complianceRequestsRedacted": int}})
}

/// The one identifier of a consent-state query, or the 400 of §4.4.
fn single_lookup(q: &Query) -> Result<IdentityLookup, Error> {
    let given: Vec<(&str, String)> = IDENTIFIERS
        .iter()
        .filter_map(|k| q.str(k).map(|v| (*k, v.to_string())))
        .collect();
    let [(name, value)] = <[_; 1]>::try_from(given).map_err(|_| {
        Error::bad(format!(
            "querystring must have exactly one of the properties: {}",
            IDENTIFIERS.join(", ")
        ))
    })?;
    Ok(match name {
        "concordId" => IdentityLookup::ConcordId(value),
        "email" => IdentityLookup::Email(value),
        "phoneNumber" => IdentityLookup::PhoneNumber(value),
        "userId" => IdentityLookup::UserId(value),
        _ => IdentityLookup::ProjectUserId(value),
    })
}

async fn consent_state(
    State(state): State<AppState>,
    scope: ProjectScope<Viewer>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let org = scope.org;
    let pid = scope.project_id;
    let q = query::parse(raw.as_deref(), state_params())?;
    let lookup = single_lookup(&q)?;
    scope.project()?;
    let identity = state
        .store
        .find_identity(org, pid, &lookup)
        .await?
        .ok_or_else(Error::not_found)?;
    let items: Vec<Value> = state
        .store
        .consent_state(org, pid, identity.id, false)
        .await?
        .iter()
        .map(|i| i.to_wire(identity.id))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({"count": items.len(), "items": items}),
    ))
}

async fn list(
    State(state): State<AppState>,
    scope: ProjectScope<Viewer>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let org = scope.org;
    let pid = scope.project_id;
    let q = query::parse(raw.as_deref(), list_params())?;
    scope.project()?;
    let page = Page::from_query(&q, "dateCreated");
    let s = |k: &str| q.str(k).map(str::to_string);
    let filter = IdentityFilter {
        organization_id: org,
        project_id: pid,
        email: s("email"),
        phone_number: s("phoneNumber"),
        user_id: s("userId"),
        project_user_id: s("projectUserId"),
        concord_id: s("concordId"),
    };
    let (total, items) = state.store.list_identities(&filter, &page).await?;
    let items = items.iter().map(|i| i.to_wire()).collect();
    Ok(json_response(
        StatusCode::OK,
        &page_envelope(&page, total, items),
    ))
}

async fn get_one(
    State(state): State<AppState>,
    scope: ProjectScope<Viewer>,
) -> ApiResult<Response> {
    let org = scope.org;
    let pid = scope.project_id;
    let id: Uuid = scope.id("concordId")?;
    scope.project()?;
    let identity = state
        .store
        .get_identity(org, pid, id)
        .await?
        .ok_or_else(Error::not_found)?;
    Ok(json_response(StatusCode::OK, &identity.to_wire()))
}

async fn erase(
    State(state): State<AppState>,
    scope: ProjectScope<Admin>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let org = scope.org;
    let pid = scope.project_id;
    let who = &scope.who;
    let id: Uuid = scope.id("concordId")?;
    let q = query::parse(raw.as_deref(), erase_params())?;
    scope.project()?;
    let erasure = state
        .store
        .erase_identity(
            org,
            pid,
            id,
            q.bool("includeComplianceRequests").unwrap_or(false),
            Actor {
                account_id: Some(who.key_id),
            },
        )
        .await?
        .ok_or_else(Error::not_found)?;
    // The rows no longer name these files; their bytes go after the commit.
    for key in &erasure.file_keys {
        if let Err(e) = state.files.delete(&ObjectPath::from(key.as_str())).await {
            tracing::warn!(error = %e, %key, "could not delete erased file bytes");
        }
    }
    Ok(json_response(StatusCode::OK, &erasure.to_wire()))
}
