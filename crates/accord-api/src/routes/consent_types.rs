//! `/privacy-v1/organizations/{organizationId}/projects/{projectId}/consent-types`: list,
//! create, get, PATCH and delete (§4.1, §4.2).
use crate::error::ApiResult;
use crate::extract::{Admin, JsonBody, ProjectScope, Viewer};
use crate::respond::{created, ok, Json, Page};
use crate::AppState;
use accord_core::consent::{
    self, ConsentType, ConsentTypeFilter, CATEGORIES, SUBCATEGORY_PATTERN, TYPE_SORTS,
    TYPE_STATUSES,
};
use accord_core::query::{self, p, paging, Kind, Param};
use accord_core::schema::{check_str, published, string};
use accord_core::store::Project;
use accord_core::time::now_ms;
use accord_core::Error;
use axum::extract::{RawQuery, State};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Map, Value};
use std::sync::OnceLock;
use uuid::Uuid;

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
            p("category", Kind::Str(string().one_of(CATEGORIES)))
                .doc("Only types of this category."),
            p("label", Kind::Str(string().max(128)))
                .doc("Only types with this label (exact, at most 128 characters)."),
            p("name", Kind::Str(string().max(100)))
                .doc("Case-insensitive substring of the type's name (at most 100 characters)."),
            p("url", Kind::Str(string())).doc("Case-insensitive substring of the type's `url`."),
            p(
                "version",
                Kind::Int {
                    min: Some(1),
                    max: None,
                },
            )
            .doc("Only types at this version."),
            p("status", Kind::Str(string().one_of(TYPE_STATUSES)))
                .doc("Only types in this status."),
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
        "description": "Only types with exactly these subcategories (compared lowercased, deduplicated and sorted); a string or an array (repeat the key).",
        "schema": consent::subcategory_input_json_schema()})
}

async fn list(
    State(state): State<AppState>,
    scope: ProjectScope<Viewer>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Page<ConsentType>>> {
    let org = scope.org;
    let pid = scope.project_id;
    let q = query::parse(raw.as_deref(), list_params())?;
    let subcategory = subcategory_filter(raw.as_deref())?;
    scope.project()?;
    let page = query::Page::from_query(&q, "dateCreated");
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
    Ok(ok(Page::new(&page, total, items)))
}

async fn create(
    State(state): State<AppState>,
    scope: ProjectScope<Admin>,
    JsonBody(raw): JsonBody,
) -> ApiResult<Json<ConsentType>> {
    Ok(created(create_type(&state, scope.project(), &raw).await?))
}

/// Creates a consent type of `project` from a Privacy API body (§4.1): the body's schema
/// first (400 before the project's 404), then the store's write (422 for a clash). The
/// route and the console's consent-type form both create with it.
pub async fn create_type(
    state: &AppState,
    project: accord_core::Result<&Project>,
    raw: &Value,
) -> accord_core::Result<ConsentType> {
    let input = consent::parse_type_create(raw)?;
    let project = project?;
    Ok(state.store.create_consent_type(project, input).await?)
}

/// Applies a Privacy API PATCH body to consent type `id` of `project` (§4.1): the body's
/// schema first, then the store's update; `Ok(None)` when the type does not exist. The
/// route and the console's consent-type page both change a type with it.
pub async fn update_type(
    state: &AppState,
    project: accord_core::Result<&Project>,
    id: Uuid,
    raw: &Value,
) -> accord_core::Result<Option<ConsentType>> {
    let patch = consent::parse_type_patch(raw)?;
    let project = project?;
    Ok(state
        .store
        .update_consent_type(
            project.organization_id,
            project.id,
            id,
            Box::new(move |t| consent::apply_type_patch(t, &patch, now_ms())),
        )
        .await?)
}

async fn get_one(
    State(state): State<AppState>,
    scope: ProjectScope<Viewer>,
) -> ApiResult<Json<ConsentType>> {
    let org = scope.org;
    let pid = scope.project_id;
    let id = scope.id("consentTypeId")?;
    scope.project()?;
    let t = state
        .store
        .get_consent_type(org, pid, id)
        .await?
        .ok_or_else(Error::not_found)?;
    Ok(ok(t))
}

async fn update(
    State(state): State<AppState>,
    scope: ProjectScope<Admin>,
    JsonBody(raw): JsonBody,
) -> ApiResult<Json<ConsentType>> {
    let id = scope.id("consentTypeId")?;
    let updated = update_type(&state, scope.project(), id, &raw)
        .await?
        .ok_or_else(Error::not_found)?;
    Ok(ok(updated))
}

async fn delete(
    State(state): State<AppState>,
    scope: ProjectScope<Admin>,
) -> ApiResult<Json<ConsentType>> {
    let org = scope.org;
    let pid = scope.project_id;
    let id = scope.id("consentTypeId")?;
    scope.project()?;
    let deleted = state
        .store
        .delete_consent_type(org, pid, id)
        .await?
        .ok_or_else(Error::not_found)?;
    Ok(ok(deleted))
}

/// The OpenAPI paths of this resource, for the Privacy API document.
pub fn document(paths: &mut Map<String, Value>) {
    use crate::docs::{op, path_params, query_params};
    let proj = &["organizationId", "projectId"][..];
    let one = &["organizationId", "projectId", "consentTypeId"][..];
    let std_errs = &[400, 401, 403, 404, 429, 500][..];
    let write_errs = &[400, 401, 403, 404, 413, 415, 422, 429, 500][..];
    let delete_errs = &[400, 401, 403, 404, 422, 429, 500][..];
    let schema = published::<ConsentType>();
    let envelope = published::<Page<ConsentType>>();
    let mut list_p = path_params(proj);
    list_p.extend(query_params(list_params()));
    list_p.push(subcategory_param_schema());
    let mut delete = op(
        "Consent Types",
        "Delete a consent type no event references",
        "Deletes a consent type and answers it. Role: admin or owner.",
        path_params(one),
        None,
        200,
        schema.clone(),
        delete_errs,
        true,
    );
    crate::docs::append_description(
        &mut delete,
        json!(format!(
        "A read-only type gives 422 `{}`; a type that any consent event references gives 422 `{}`.",
        consent::READ_ONLY,
        consent::HAS_EVENTS
    )),
    );
    paths.insert(
        COLLECTION.into(),
        json!({
            "get": op("Consent Types", "Consent types of a project", "Lists the project's consent types, of every status. Role: viewer or above.", list_p, None, 200, envelope, std_errs, true),
            "post": op("Consent Types", "Create a consent type", "Creates a consent type at version 1; (category, subcategory, label) must be new in the project (422 `consent type already exists`). Role: admin or owner.", path_params(proj), Some(consent::type_create_json_schema()), 201, schema.clone(), write_errs, true),
        }),
    );
    paths.insert(
        ONE.into(),
        json!({
            "get": op("Consent Types", "Get one consent type", "Answers one consent type of the project (Accord decision). Role: viewer or above.", path_params(one), None, 200, schema.clone(), std_errs, true),
            "patch": op("Consent Types", "Update a consent type", "Changes a consent type; `category`, `subcategory`, `label` and `readOnly` cannot change (400 as unknown properties). A change of `document` or `url` increments `version`, or sets the explicit `version` sent (greater than the current one, 422 otherwise); `requireReacceptVersion` may not exceed it (422). A read-only type gives 422. Role: admin or owner.", path_params(one), Some(consent::type_patch_json_schema()), 200, schema.clone(), write_errs, true),
            "delete": delete,
        }),
    );
}
