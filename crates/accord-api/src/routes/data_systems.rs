//! `/privacy-v1/organizations/{organizationId}/data-systems[/{dataSystemId}]`: the systems
//! of an organization's data map, their projects and attribute links (§6.2).
use crate::error::ApiResult;
use crate::extract::{Admin, JsonBody, OrgScope, Viewer};
use crate::respond::{created, ok, Json, Page};
use crate::AppState;
use accord_core::datamap::{self, DataMap, DataSystemView, Index};
use accord_core::query;
use accord_core::schema::published;
use accord_core::store::Organization;
use accord_core::time::now_ms;
use accord_core::Error;
use axum::extract::{RawQuery, State};
use axum::routing::get;
use axum::Router;
use serde_json::{Map, Value};
use uuid::Uuid;

const COLLECTION: &str = "/organizations/{organizationId}/data-systems";
const ONE: &str = "/organizations/{organizationId}/data-systems/{dataSystemId}";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(COLLECTION, get(list).post(create))
        .route(ONE, get(get_one).patch(update).delete(delete))
}

fn render(org: &Organization, map: &DataMap, id: Uuid) -> ApiResult<DataSystemView> {
    let idx = Index::new(map);
    let s = idx.systems.get(&id).ok_or_else(Error::not_found)?;
    Ok(DataSystemView::new(s, &idx, &org.name))
}

async fn list(
    State(state): State<AppState>,
    scope: OrgScope<Viewer>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Page<DataSystemView>>> {
    let org = &scope.org;
    let q = query::parse(raw.as_deref(), datamap::system_list_params())?;
    let map = state.store.data_map(org.id).await?;
    let idx = Index::new(&map);
    let page = query::Page::from_query(&q, "dateCreated");
    let (total, items) = datamap::list_systems(&idx, &q, &page);
    let items = items
        .into_iter()
        .map(|s| DataSystemView::new(s, &idx, &org.name))
        .collect();
    Ok(ok(Page::new(&page, total, items)))
}

/// Creates (no `dataSystemId` in the path) or updates a data system.
async fn write(
    state: &AppState,
    scope: &OrgScope<Admin>,
    raw: &Value,
) -> ApiResult<DataSystemView> {
    let id = match scope.path.has("dataSystemId") {
        true => Some(scope.id("dataSystemId")?),
        false => None,
    };
    Ok(write_system(state, &scope.org, id, raw).await?)
}

/// Creates (`id` None) or updates a data system of `org` from a Privacy API body (§6.2):
/// the body's schema, its reference checks (422) and the store's write. The route and the
/// console's data-map forms both write with it.
pub async fn write_system(
    state: &AppState,
    org: &Organization,
    id: Option<Uuid>,
    raw: &Value,
) -> accord_core::Result<DataSystemView> {
    let org_id = org.id;
    let input = datamap::parse_system(raw, id.is_none())?;
    let map = state.store.data_map(org_id).await?;
    let existing = match id {
        Some(id) => Some(
            map.systems
                .iter()
                .find(|s| s.id == id)
                .cloned()
                .ok_or_else(Error::not_found)?,
        ),
        None => None,
    };
    let projects: Vec<Uuid> = match input.project_ids {
        Some(_) => state
            .store
            .list_projects(org_id)
            .await?
            .iter()
            .map(|p| p.id)
            .collect(),
        None => vec![],
    };
    let idx = Index::new(&map);
    let create = existing.is_none();
    let w = datamap::system_write(input, existing, &idx, &projects, org_id, now_ms())?;
    state.store.save_data_system(&w, create).await?;
    let map = state.store.data_map(org_id).await?;
    let idx = Index::new(&map);
    let s = idx.systems.get(&w.system.id).ok_or_else(Error::not_found)?;
    Ok(DataSystemView::new(s, &idx, &org.name))
}

/// Deletes a data system of `org` and its links, answering it as it was (§6.2).
pub async fn delete_system(
    state: &AppState,
    org: &Organization,
    id: Uuid,
) -> accord_core::Result<DataSystemView> {
    let map = state.store.data_map(org.id).await?;
    let idx = Index::new(&map);
    let s = idx.systems.get(&id).ok_or_else(Error::not_found)?;
    let v = DataSystemView::new(s, &idx, &org.name);
    state.store.delete_data_system(org.id, id).await?;
    Ok(v)
}

async fn create(
    State(state): State<AppState>,
    scope: OrgScope<Admin>,
    JsonBody(raw): JsonBody,
) -> ApiResult<Json<DataSystemView>> {
    Ok(created(write(&state, &scope, &raw).await?))
}

async fn get_one(
    State(state): State<AppState>,
    scope: OrgScope<Viewer>,
) -> ApiResult<Json<DataSystemView>> {
    let map = state.store.data_map(scope.org.id).await?;
    Ok(ok(render(&scope.org, &map, scope.id("dataSystemId")?)?))
}

async fn update(
    State(state): State<AppState>,
    scope: OrgScope<Admin>,
    JsonBody(raw): JsonBody,
) -> ApiResult<Json<DataSystemView>> {
    Ok(ok(write(&state, &scope, &raw).await?))
}

/// Deletes the system and its links; compliance-request tasks keep its id (§6.2).
async fn delete(
    State(state): State<AppState>,
    scope: OrgScope<Admin>,
) -> ApiResult<Json<DataSystemView>> {
    let id = scope.id("dataSystemId")?;
    Ok(ok(delete_system(&state, &scope.org, id).await?))
}

/// The OpenAPI paths of this resource, for the Privacy API document.
pub fn document(paths: &mut Map<String, Value>) {
    use crate::docs::{op, path_params, query_params};
    let org = &["organizationId"][..];
    let one = &["organizationId", "dataSystemId"][..];
    let std_errs = &[400, 401, 403, 404, 429, 500][..];
    let write_errs = &[400, 401, 403, 404, 413, 415, 422, 429, 500][..];
    let schema = published::<DataSystemView>();
    let envelope = published::<Page<DataSystemView>>();
    let mut list_p = path_params(org);
    list_p.extend(query_params(datamap::system_list_params()));
    paths.insert(
        COLLECTION.into(),
        serde_json::json!({
            "get": op("Data Systems", "Get data systems", "Lists the organization's data systems, each with its linked attributes embedded. Role: viewer or above.", list_p, None, 200, envelope, std_errs, true),
            "post": op("Data Systems", "Create data system", "Creates a data system of the organization and links it to projects and attributes; every referenced project and attribute must be the organization's and of the right kind (422 otherwise). Active systems linked to a project become tasks of that project's new compliance requests. Role: admin or owner.", path_params(org), Some(datamap::system_body_json_schema(true)), 201, schema.clone(), write_errs, true),
        }),
    );
    paths.insert(
        ONE.into(),
        serde_json::json!({
            "get": op("Data Systems", "Get one data system", "Answers one data system of the organization. Role: viewer or above.", path_params(one), None, 200, schema.clone(), std_errs, true),
            "patch": op("Data Systems", "Update data system", "Changes a data system; each array sent replaces the links of its kind. Role: admin or owner.", path_params(one), Some(datamap::system_body_json_schema(false)), 200, schema.clone(), write_errs, true),
            "delete": op("Data Systems", "Delete data system", "Deletes a data system and its links, and answers it; compliance-request tasks keep its id, answered as a uuid string. Role: admin or owner.", path_params(one), None, 200, schema, std_errs, true),
        }),
    );
}
