//! `/privacy-v1/organizations/{organizationId}/projects/{projectId}/domains`: the domains
//! that may use the project's Site API and that scans target (§7.7).
use crate::error::ApiResult;
use crate::extract::{Admin, JsonBody, ProjectScope, Viewer};
use crate::respond::{created, ok, Json, Page};
use crate::AppState;
use accord_core::query::{self, p, paging, Kind, Param};
use accord_core::schema::published;
use accord_core::schema::string;
use accord_core::site::{self, Domain, DomainFilter, DOMAIN_SORTS};
use accord_core::store::Project;
use accord_core::time::now_ms;
use accord_core::Error;
use axum::extract::{RawQuery, State};
use axum::routing::get;
use axum::Router;
use serde_json::{Map, Value};
use std::sync::OnceLock;
use uuid::Uuid;

const COLLECTION: &str = "/organizations/{organizationId}/projects/{projectId}/domains";
const ONE: &str = "/organizations/{organizationId}/projects/{projectId}/domains/{domainId}";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(COLLECTION, get(list).post(create))
        .route(ONE, get(get_one).patch(update).delete(delete))
}

pub fn list_params() -> &'static [Param] {
    static P: OnceLock<Vec<Param>> = OnceLock::new();
    P.get_or_init(|| {
        let mut v = paging(DOMAIN_SORTS);
        v.push(
            p("domain", Kind::Str(string().max(253)))
                .doc("Case-insensitive substring of the host name (at most 253 characters)."),
        );
        v
    })
}

async fn list(
    State(state): State<AppState>,
    scope: ProjectScope<Viewer>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Page<Domain>>> {
    let q = query::parse(raw.as_deref(), list_params())?;
    scope.project()?;
    let page = query::Page::from_query(&q, "dateCreated");
    let filter = DomainFilter {
        project_id: scope.project_id,
        domain: q.str("domain").map(str::to_string),
    };
    let (total, items) = state.store.list_domains(&filter, &page).await?;
    Ok(ok(Page::new(&page, total, items)))
}

async fn create(
    State(state): State<AppState>,
    scope: ProjectScope<Admin>,
    JsonBody(raw): JsonBody,
) -> ApiResult<Json<Domain>> {
    let b = site::parse_domain_body(&raw, site::domain_create_schema())?;
    let project = scope.project()?;
    Ok(created(add(&state, project, b).await?))
}

/// Adds the domain of a parsed create body to `project` (unique within it, 422): the
/// Privacy API's create and the console's domain form.
pub async fn add(state: &AppState, project: &Project, b: site::DomainBody) -> ApiResult<Domain> {
    let now = now_ms();
    let d = Domain {
        id: accord_core::ids::new_id(),
        organization_id: project.organization_id,
        project_id: project.id,
        domain: b.domain.unwrap_or_default(),
        url: b.url.filter(|u| !u.is_empty()),
        date_created: now,
        date_updated: now,
    };
    state.store.create_domain(&d).await?;
    Ok(d)
}

/// The addressed domain of the addressed project, or 404.
async fn found<R>(state: &AppState, scope: &ProjectScope<R>) -> ApiResult<Domain> {
    let project = scope.project()?;
    Ok(state
        .store
        .get_domain(project.id, scope.id("domainId")?)
        .await?
        .ok_or_else(Error::not_found)?)
}

async fn get_one(
    State(state): State<AppState>,
    scope: ProjectScope<Viewer>,
) -> ApiResult<Json<Domain>> {
    let d = found(&state, &scope).await?;
    Ok(ok(d))
}

async fn update(
    State(state): State<AppState>,
    scope: ProjectScope<Admin>,
    JsonBody(raw): JsonBody,
) -> ApiResult<Json<Domain>> {
    let b = site::parse_domain_body(&raw, site::domain_patch_schema())?;
    let mut d = found(&state, &scope).await?;
    if let Some(domain) = b.domain {
        d.domain = domain;
    }
    if let Some(url) = b.url {
        d.url = (!url.is_empty()).then_some(url);
    }
    d.date_updated = now_ms();
    state.store.update_domain(&d).await?;
    Ok(ok(d))
}

async fn delete(
    State(state): State<AppState>,
    scope: ProjectScope<Admin>,
) -> ApiResult<Json<Domain>> {
    Ok(ok(
        remove(&state, scope.project()?, scope.id("domainId")?).await?
    ))
}

/// Deletes domain `id` of `project` (§7.2): `NotFound` when the project has no such domain.
/// The route and the console's remove button both delete with it.
pub async fn remove(state: &AppState, project: &Project, id: Uuid) -> accord_core::Result<Domain> {
    let d = state
        .store
        .get_domain(project.id, id)
        .await?
        .ok_or_else(Error::not_found)?;
    state.store.delete_domain(d.project_id, d.id).await?;
    Ok(d)
}

/// The OpenAPI paths of this resource, for the Privacy API document.
pub fn document(paths: &mut Map<String, Value>) {
    use crate::docs::{op, path_params, query_params};
    let proj = &["organizationId", "projectId"][..];
    let one = &["organizationId", "projectId", "domainId"][..];
    let std_errs = &[400, 401, 403, 404, 429, 500][..];
    let write_errs = &[400, 401, 403, 404, 413, 415, 422, 429, 500][..];
    let schema = published::<Domain>();
    let envelope = published::<Page<Domain>>();
    let mut list_p = path_params(proj);
    list_p.extend(query_params(list_params()));
    paths.insert(
        COLLECTION.into(),
        serde_json::json!({
            "get": op("Domains", "Domains of a project", "Lists the project's domains: the hosts whose pages may use the project's Site API (with their subdomains), and the targets of tracker scans. Role: viewer or above.", list_p, None, 200, envelope, std_errs, true),
            "post": op("Domains", "Create a domain in a project", "Adds a host name to the project, unique within it (422). Role: admin or owner.", path_params(proj), Some(site::domain_create_schema().json_schema()), 201, schema.clone(), write_errs, true),
        }),
    );
    paths.insert(
        ONE.into(),
        serde_json::json!({
            "get": op("Domains", "Get one domain", "Answers one domain of the project. Role: viewer or above.", path_params(one), None, 200, schema.clone(), std_errs, true),
            "patch": op("Domains", "Update a domain", "Changes a domain's host name or page URL; the host stays unique within the project (422). Role: admin or owner.", path_params(one), Some(site::domain_patch_schema().json_schema()), 200, schema.clone(), write_errs, true),
            "delete": op("Domains", "Delete a domain", "Removes a domain from the project and answers it; its pages can no longer use the Site API unless another domain covers them. Role: admin or owner.", path_params(one), None, 200, schema, std_errs, true),
        }),
    );
}
