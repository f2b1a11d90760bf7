//! `/privacy-v1/organizations/{organizationId}/emails`: the organization's send-from
//! addresses (§7.6). Every address is `verified` on creation: the operator controls the
//! SMTP relay.
use crate::error::ApiResult;
use crate::extract::{Admin, JsonBody, OrgScope, PathParams, Viewer};
use crate::respond::{created, ok, Json, Page};
use crate::AppState;
use accord_core::query::{self, p, paging, Kind, Param};
use accord_core::schema::{parse, published, string, Format, Object, Schema};
use accord_core::store::{Project, SendFromEmail};
use accord_core::time::now_ms;
use accord_core::Error;
use axum::extract::{RawQuery, State};
use axum::routing::get;
use axum::Router;
use serde::Serialize;
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
        v.push(
            p("email", Kind::Str(string().max(256)))
                .doc("Case-insensitive substring of the address (at most 256 characters)."),
        );
        v
    })
}

accord_core::body! {
    /// The create and PATCH body of a send-from email (§7.6); a PATCH may only rename.
    pub struct EmailBody {
        /// The sender address (required on create, not accepted on PATCH), unique in the
        /// organization (422).
        email: Option<String> => "email":
            string().max(256).format(Format::Email).non_empty().s(),
        /// Display name of the sender (at most 256 characters).
        name: Option<String> => "name": string().max(256).s(),
    }
}

pub fn create_schema() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    S.get_or_init(|| {
        Schema::Object(Object {
            props: EmailBody::props(),
            required: vec!["email"],
            ..Default::default()
        })
    })
}

pub fn patch_schema() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    S.get_or_init(|| {
        Schema::Object(Object {
            props: EmailBody::props()
                .into_iter()
                .filter(|(k, _)| *k == "name")
                .collect(),
            min_props: 1,
            ..Default::default()
        })
    })
}

/// A project that sends from an address.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct EmailProject {
    /// Project id (UUID).
    pub id: Uuid,
    /// Name of the project.
    pub name: String,
}

/// The email object of §7.6, with the projects that send from it. Every address is
/// `verified`: the operator controls the SMTP relay.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct EmailView {
    /// Send-from email id (UUID).
    pub id: Uuid,
    /// The address, unique in the organization (compared case-insensitively).
    #[schemars(extend("format" = "email"))]
    pub email: String,
    /// The organization of the address.
    pub organization_id: Uuid,
    /// The projects whose messages are sent from this address.
    pub projects: Vec<EmailProject>,
    /// Always `verified`: the operator controls the mail relay, so Accord does not verify
    /// ownership.
    #[schemars(extend("enum" = ["verified"]))]
    pub status: &'static str,
    /// When the address was added, in epoch milliseconds.
    pub date_created: i64,
    /// When the address last changed, in epoch milliseconds.
    pub date_updated: i64,
    /// Display name of the sender (at most 256 characters).
    // The optional fields follow the dates: the order clients have always received.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl EmailView {
    /// `projects` are the organization's; those sending from `e` are listed.
    pub fn new(e: &SendFromEmail, projects: &[Project]) -> EmailView {
        EmailView {
            id: e.id,
            email: e.email.clone(),
            organization_id: e.organization_id,
            projects: projects
                .iter()
                .filter(|p| p.send_from_email_id == e.id.to_string())
                .map(|p| EmailProject {
                    id: p.id,
                    name: p.name.clone(),
                })
                .collect(),
            status: "verified",
            date_created: e.date_created,
            date_updated: e.date_updated,
            name: e.name.clone(),
        }
    }
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

async fn list(
    State(state): State<AppState>,
    scope: OrgScope<Viewer>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Page<EmailView>>> {
    let org = scope.org.id;
    let q = query::parse(raw.as_deref(), list_params())?;
    let page = query::Page::from_query(&q, "dateCreated");
    let (total, items) = state
        .store
        .list_send_from_emails(org, q.str("email"), &page)
        .await?;
    let projects = state.store.list_projects(org).await?;
    let items = items.iter().map(|e| EmailView::new(e, &projects)).collect();
    Ok(ok(Page::new(&page, total, items)))
}

async fn load(state: &AppState, org: Uuid, path: &PathParams) -> ApiResult<SendFromEmail> {
    let id = path.uuid("emailId")?;
    Ok(state
        .store
        .get_send_from_email(org, id)
        .await?
        .ok_or_else(Error::not_found)?)
}

async fn get_one(
    State(state): State<AppState>,
    scope: OrgScope<Viewer>,
) -> ApiResult<Json<EmailView>> {
    let org = scope.org.id;
    let e = load(&state, org, &scope.path).await?;
    let projects = state.store.list_projects(org).await?;
    Ok(ok(EmailView::new(&e, &projects)))
}

async fn create(
    State(state): State<AppState>,
    scope: OrgScope<Admin>,
    JsonBody(raw): JsonBody,
) -> ApiResult<Json<EmailView>> {
    Ok(created(create_email(&state, scope.org.id, &raw).await?))
}

/// Adds a send-from address to organization `org` from a `POST …/emails` body (§7.6).
/// The route and the console use it.
pub async fn create_email(
    state: &AppState,
    org: Uuid,
    raw: &Value,
) -> accord_core::Result<EmailView> {
    let b: EmailBody = parse(raw, create_schema())?;
    let now = now_ms();
    let e = SendFromEmail {
        id: accord_core::ids::new_id(),
        organization_id: org,
        email: b.email.unwrap_or_default(),
        name: non_empty(b.name),
        date_created: now,
        date_updated: now,
    };
    state.store.create_send_from_email(&e).await?;
    Ok(EmailView::new(&e, &[]))
}

/// The send-from addresses of organization `org` (one page of the store's list, sorted by
/// address) and their total.
pub async fn list_page(
    state: &AppState,
    org: Uuid,
    page: &query::Page,
) -> accord_core::Result<(i64, Vec<EmailView>)> {
    let (total, items) = state.store.list_send_from_emails(org, None, page).await?;
    let projects = state.store.list_projects(org).await?;
    Ok((
        total,
        items.iter().map(|e| EmailView::new(e, &projects)).collect(),
    ))
}

/// Deletes send-from address `id` of organization `org`; its projects send from the
/// server's sender again.
pub async fn delete_email(state: &AppState, org: Uuid, id: Uuid) -> accord_core::Result<EmailView> {
    let e = state
        .store
        .get_send_from_email(org, id)
        .await?
        .ok_or_else(Error::not_found)?;
    let projects = state.store.list_projects(org).await?;
    let body = EmailView::new(&e, &projects);
    state.store.delete_send_from_email(org, e.id).await?;
    Ok(body)
}

async fn update(
    State(state): State<AppState>,
    scope: OrgScope<Admin>,
    JsonBody(raw): JsonBody,
) -> ApiResult<Json<EmailView>> {
    let org = scope.org.id;
    let b: EmailBody = parse(&raw, patch_schema())?;
    let mut e = load(&state, org, &scope.path).await?;
    e.name = non_empty(b.name);
    e.date_updated = now_ms().max(e.date_updated);
    state.store.update_send_from_email(&e).await?;
    let projects = state.store.list_projects(org).await?;
    Ok(ok(EmailView::new(&e, &projects)))
}

async fn delete(
    State(state): State<AppState>,
    scope: OrgScope<Admin>,
) -> ApiResult<Json<EmailView>> {
    let id = scope.path.uuid("emailId")?;
    Ok(ok(delete_email(&state, scope.org.id, id).await?))
}

/// The paths of this module in the Privacy API document.
pub fn document(paths: &mut serde_json::Map<String, Value>) {
    use crate::docs::{op, path_params, query_params};
    let org = &["organizationId"][..];
    let one = &["organizationId", "emailId"][..];
    let std_errs = &[400, 401, 403, 404, 429, 500][..];
    let write_errs = &[400, 401, 403, 404, 413, 415, 422, 429, 500][..];
    let item = published::<EmailView>();
    let envelope = published::<Page<EmailView>>();
    let mut list_p = path_params(org);
    list_p.extend(query_params(list_params()));
    paths.insert(
        COLLECTION.into(),
        json!({
            "get": op("Emails", "Send-from emails of the organization", "Lists the organization's send-from addresses; the server's own sender (id `default`) is not an item. Role: viewer or above.", list_p, None, 200, envelope, std_errs, true),
            "post": op("Emails", "Create a send-from email", "Adds an address projects may send their messages from, `verified` at once (the operator controls the relay); unique in the organization (422). Role: admin or owner.", path_params(org), Some(create_schema().json_schema()), 201, item.clone(), write_errs, true),
        }),
    );
    paths.insert(
        ONE.into(),
        json!({
            "get": op("Emails", "Get one send-from email", "Answers one send-from address of the organization. Role: viewer or above.", path_params(one), None, 200, item.clone(), std_errs, true),
            "patch": op("Emails", "Rename a send-from email", "Changes the display name of a send-from address; the address itself cannot change. Role: admin or owner.", path_params(one), Some(patch_schema().json_schema()), 200, item.clone(), write_errs, true),
            "delete": op("Emails", "Delete a send-from email; its projects revert to the default sender", "Deletes a send-from address and answers it; the projects using it send from the server's sender (`default`) again. Role: admin or owner.", path_params(one), None, 200, item, std_errs, true),
        }),
    );
}
