//! `/privacy-v1/organizations/{organizationId}/emails`: the organization's send-from
//! addresses (§7.6). Every address is `verified` on creation: the operator controls the
//! SMTP relay.
use crate::error::{json_response, ApiResult};
use crate::extract::{validated, Admin, JsonBody, OrgScope, PathParams, Viewer};
use crate::routes::compliance_requests::page_envelope;
use crate::AppState;
use accord_core::query::{self, p, paging, Kind, Page, Param};
use accord_core::schema::{string, Format, Object, Schema};
use accord_core::store::{Project, SendFromEmail};
use accord_core::time::now_ms;
use accord_core::Error;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::OnceLock;
use uuid::Uuid;

const COLLECTION: &str = "/organizations/{organizationId}/emails";
const ONE: &str = "/organizations/{organizationId}/emails/{emailId}";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(COLLECTION, get(list).post(create))
        .route(ONE, get(get_one).patch(update).delete(delete))
}

pub const EMAIL_SORTS: &[&str] = &["dateCreated", "email"];

pub fn list_params() -> &'static [Param] {
    static P: OnceLock<Vec<Param>> = OnceLock::new();
    P.get_or_init(|| {
        let mut v = paging(EMAIL_SORTS);
        v.push(p("email", Kind::Str(string().max(256))));
        v
    })
}

pub fn create_schema() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    S.get_or_init(|| {
        Schema::Object(Object {
            props: vec![
                ("email", string().max(256).format(Format::Email).s()),
                ("name", string().max(256).s()),
            ],
            required: vec!["email"],
            any_of: vec![],
            min_props: 0,
        })
    })
}

pub fn patch_schema() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    S.get_or_init(|| {
        Schema::Object(Object {
            props: vec![("name", string().max(256).s())],
            required: vec![],
            any_of: vec![],
            min_props: 1,
        })
    })
}

#[derive(Deserialize)]
struct EmailBody {
    email: Option<String>,
    name: Option<String>,
}

/// The email object of §7.6, with the projects that send from it.
pub fn to_wire(e: &SendFromEmail, projects: &[Project]) -> Value {
    let using: Vec<Value> = projects
        .iter()
        .filter(|p| p.send_from_email_id == e.id.to_string())
        .map(|p| json!({"id": p.id, "name": p.name}))
        .collect();
    let mut v = json!({
        "id": e.id,
        "email": e.email,
        "organizationId": e.organization_id,
        "projects": using,
        "status": "verified",
        "dateCreated": e.date_created,
        "dateUpdated": e.date_updated,
    });
    if let Some(n) = &e.name {
        v["name"] = json!(n);
    }
    v
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

async fn list(
    State(state): State<AppState>,
    scope: OrgScope<Viewer>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let org = scope.org.id;
    let q = query::parse(raw.as_deref(), list_params())?;
    let page = Page::from_query(&q, "dateCreated");
    let (total, items) = state
        .store
        .list_send_from_emails(org, q.str("email"), &page)
        .await?;
    let projects = state.store.list_projects(org).await?;
    let items = items.iter().map(|e| to_wire(e, &projects)).collect();
    Ok(json_response(
        StatusCode::OK,
        &page_envelope(&page, total, items),
    ))
}

async fn load(state: &AppState, org: Uuid, path: &PathParams) -> ApiResult<SendFromEmail> {
    let id = path.uuid("emailId")?;
    Ok(state
        .store
        .get_send_from_email(org, id)
        .await?
        .ok_or_else(Error::not_found)?)
}

async fn get_one(State(state): State<AppState>, scope: OrgScope<Viewer>) -> ApiResult<Response> {
    let org = scope.org.id;
    let e = load(&state, org, &scope.path).await?;
    let projects = state.store.list_projects(org).await?;
    Ok(json_response(StatusCode::OK, &to_wire(&e, &projects)))
}

async fn create(
    State(state): State<AppState>,
    scope: OrgScope<Admin>,
    JsonBody(raw): JsonBody,
) -> ApiResult<Response> {
    let org = scope.org.id;
    let b: EmailBody = validated(&raw, create_schema())?;
    let email =
        non_empty(b.email).ok_or_else(|| Error::bad("body/email must match format \"email\""))?;
    let now = now_ms();
    let e = SendFromEmail {
        id: accord_core::ids::new_id(),
        organization_id: org,
        email,
        name: non_empty(b.name),
        date_created: now,
        date_updated: now,
    };
    state.store.create_send_from_email(&e).await?;
    Ok(json_response(StatusCode::CREATED, &to_wire(&e, &[])))
}

async fn update(
    State(state): State<AppState>,
    scope: OrgScope<Admin>,
    JsonBody(raw): JsonBody,
) -> ApiResult<Response> {
    let org = scope.org.id;
    let b: EmailBody = validated(&raw, patch_schema())?;
    let mut e = load(&state, org, &scope.path).await?;
    e.name = non_empty(b.name);
    e.date_updated = now_ms().max(e.date_updated);
    state.store.update_send_from_email(&e).await?;
    let projects = state.store.list_projects(org).await?;
    Ok(json_response(StatusCode::OK, &to_wire(&e, &projects)))
}

async fn delete(State(state): State<AppState>, scope: OrgScope<Admin>) -> ApiResult<Response> {
    let org = scope.org.id;
    let e = load(&state, org, &scope.path).await?;
    let projects = state.store.list_projects(org).await?;
    let body = to_wire(&e, &projects);
    state.store.delete_send_from_email(org, e.id).await?;
    Ok(json_response(StatusCode::OK, &body))
}

/// The JSON Schema of the email object.
pub fn schema() -> Value {
    let s = json!({"type": "string"});
    json!({"type": "object", "additionalProperties": false,
        "required": ["id", "email", "organizationId", "projects", "status", "dateCreated", "dateUpdated"],
        "properties": {"id": {"type": "string", "format": "uuid"}, "email": {"type": "string", "format": "email"}, "name": s,
            "organizationId": {"type": "string", "format": "uuid"},
            "projects": {"type": "array", "items": {"type": "object", "required": ["id", "name"], "properties": {"id": {"type": "string", "format": "uuid"}, "name": s}}},
            "status": {"type": "string", "enum": ["verified"]},
            "dateCreated": {"type": "integer"}, "dateUpdated": {"type": "integer"}}})
}

/// The paths of this module in the Privacy API document.
pub fn document(paths: &mut serde_json::Map<String, Value>) {
    use crate::docs::{op, path_params, query_params};
    let org = &["organizationId"][..];
    let one = &["organizationId", "emailId"][..];
    let std_errs = &[400, 401, 403, 404, 429, 500][..];
    let write_errs = &[400, 401, 403, 404, 413, 415, 422, 429, 500][..];
    let item = schema();
    let envelope = json!({"type": "object", "additionalProperties": false, "required": ["offset", "count", "total", "items"], "properties": {
        "offset": {"type": "integer"}, "count": {"type": "integer"}, "total": {"type": "integer"},
        "items": {"type": "array", "items": item}}});
    let mut list_p = path_params(org);
    list_p.extend(query_params(list_params()));
    paths.insert(
        COLLECTION.into(),
        json!({
            "get": op("Emails", "Send-from emails of the organization", list_p, None, 200, envelope, std_errs, true),
            "post": op("Emails", "Create a send-from email", path_params(org), Some(create_schema().json_schema()), 201, item.clone(), write_errs, true),
        }),
    );
    paths.insert(
        ONE.into(),
        json!({
            "get": op("Emails", "Get one send-from email", path_params(one), None, 200, item.clone(), std_errs, true),
            "patch": op("Emails", "Rename a send-from email", path_params(one), Some(patch_schema().json_schema()), 200, item.clone(), write_errs, true),
            "delete": op("Emails", "Delete a send-from email; its projects revert to the default sender", path_params(one), None, 200, item, std_errs, true),
        }),
    );
}
