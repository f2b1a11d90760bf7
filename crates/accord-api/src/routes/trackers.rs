//! `/privacy-v1/organizations/{organizationId}/projects/{projectId}/trackers`: the trackers
//! of a project (§8.2), created one at a time or in batches, matched to existing ones,
//! classified by PATCH.
use crate::error::ApiResult;
use crate::extract::{Admin, JsonBody, ProjectScope, Viewer};
use crate::respond::{created, ok, Json, Page};
use crate::AppState;
use accord_core::query::{self, p, paging, Kind, Param};
use accord_core::schema::{published, string};
use accord_core::store::{Entity, Project, StoreError};
use accord_core::time::now_ms;
use accord_core::trackers::{
    self, Tracker, TrackerFilter, TrackerView, CATEGORIES, ORIGINS, TRACKER_SORTS, TRACKER_TYPES,
};
use accord_core::Error;
use axum::extract::{RawQuery, State};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Map, Value};
use std::sync::OnceLock;
use uuid::Uuid;

const COLLECTION: &str = "/organizations/{organizationId}/projects/{projectId}/trackers";
const ONE: &str = "/organizations/{organizationId}/projects/{projectId}/trackers/{trackerId}";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(COLLECTION, get(list).post(create))
        .route(ONE, get(get_one).patch(update).delete(delete))
}

/// Query of the tracker list (§8.2).
pub fn list_params() -> &'static [Param] {
    static P: OnceLock<Vec<Param>> = OnceLock::new();
    P.get_or_init(|| {
        let mut v = paging(TRACKER_SORTS);
        v.extend([
            p("name", Kind::Str(string().max(256)))
                .doc("Case-insensitive substring of the tracker's name (at most 256 characters)."),
            p("company", Kind::Str(string().max(256))).doc(
                "Case-insensitive substring of the tracker's company (at most 256 characters).",
            ),
            p("domain", Kind::Str(string().max(253)))
                .doc("Only trackers from this host (at most 253 characters)."),
            p("category", Kind::EnumList(CATEGORIES))
                .doc("Only trackers of these categories; repeat the key for several."),
            p("type", Kind::EnumList(TRACKER_TYPES))
                .doc("Only trackers of these kinds; repeat the key for several."),
            p("origin", Kind::Str(string().one_of(ORIGINS)))
                .doc("Only trackers of this origin: `manual` or `autoscan`."),
        ]);
        v
    })
}

async fn list(
    State(state): State<AppState>,
    scope: ProjectScope<Viewer>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Page<TrackerView>>> {
    let q = query::parse(raw.as_deref(), list_params())?;
    scope.project()?;
    let page = query::Page::from_query(&q, "dateCreated");
    let filter = TrackerFilter {
        project_id: scope.project_id,
        name: q.str("name").map(str::to_string),
        company: q.str("company").map(str::to_string),
        domain: q.str("domain").map(str::to_string),
        category: q.list("category").map(<[String]>::to_vec),
        tracker_type: q.list("type").map(<[String]>::to_vec),
        origin: q.str("origin").map(str::to_string),
    };
    let (total, items) = state.store.list_trackers(&filter, &page).await?;
    let items = items.iter().map(TrackerView::from).collect();
    Ok(ok(Page::new(&page, total, items)))
}

async fn create(
    State(state): State<AppState>,
    scope: ProjectScope<Admin>,
    JsonBody(raw): JsonBody,
) -> ApiResult<Json<Vec<TrackerView>>> {
    let items = trackers::parse_create(&raw)?;
    let project = scope.project()?;
    // Only a tracker of one of the items' names can hold one of their keys.
    let mut names: Vec<String> = items.iter().filter_map(|i| i.body.name.clone()).collect();
    names.sort_unstable();
    names.dedup();
    let matched: Vec<Uuid> = items
        .iter()
        .filter_map(|i| i.body.matched_tracker_id)
        .collect();
    let existing = state
        .store
        .tracker_candidates(project.id, &names, &matched, false)
        .await?;
    let writes = trackers::plan_create(
        &items,
        &existing,
        project.organization_id,
        project.id,
        now_ms(),
        accord_core::ids::new_id,
    )?;
    match state.store.write_trackers(&writes).await {
        // A matched tracker deleted since it was read.
        Err(StoreError::Missing(Entity::Row)) => {
            return Err(Error::unprocessable("matchedTrackerId not found in this project").into())
        }
        other => other?,
    }
    Ok(created(
        writes
            .iter()
            .map(|w| TrackerView::from(w.tracker()))
            .collect(),
    ))
}

/// The addressed tracker of the addressed project, or 404.
async fn found<R>(state: &AppState, scope: &ProjectScope<R>) -> ApiResult<Tracker> {
    let project = scope.project()?;
    Ok(state
        .store
        .get_tracker(project.id, scope.id("trackerId")?)
        .await?
        .ok_or_else(Error::not_found)?)
}

async fn get_one(
    State(state): State<AppState>,
    scope: ProjectScope<Viewer>,
) -> ApiResult<Json<TrackerView>> {
    Ok(ok(TrackerView::from(&found(&state, &scope).await?)))
}

async fn update(
    State(state): State<AppState>,
    scope: ProjectScope<Admin>,
    JsonBody(raw): JsonBody,
) -> ApiResult<Json<TrackerView>> {
    let id = scope.id("trackerId")?;
    let t = update_tracker(&state, scope.project(), id, &raw).await?;
    Ok(ok(TrackerView::from(&t)))
}

/// Applies a Privacy API PATCH body to tracker `id` of `project` (§7.10): the body's schema
/// first (400 before the project's 404), then the tracker (404) and the store's write. The
/// route and the console's classification form both change a tracker with it.
pub async fn update_tracker(
    state: &AppState,
    project: accord_core::Result<&Project>,
    id: Uuid,
    raw: &Value,
) -> accord_core::Result<Tracker> {
    let b = trackers::parse_patch(raw)?;
    let mut t = state
        .store
        .get_tracker(project?.id, id)
        .await?
        .ok_or_else(Error::not_found)?;
    trackers::apply_patch(&mut t, &b, now_ms());
    state.store.update_tracker(&t).await?;
    Ok(t)
}

async fn delete(
    State(state): State<AppState>,
    scope: ProjectScope<Admin>,
) -> ApiResult<Json<TrackerView>> {
    let t = found(&state, &scope).await?;
    state.store.delete_tracker(t.project_id, t.id).await?;
    Ok(ok(TrackerView::from(&t)))
}

/// The OpenAPI paths of this resource, for the Privacy API document.
pub fn document(paths: &mut Map<String, Value>) {
    use crate::docs::{op, path_params, query_params};
    let proj = &["organizationId", "projectId"][..];
    let one = &["organizationId", "projectId", "trackerId"][..];
    let std_errs = &[400, 401, 403, 404, 429, 500][..];
    let write_errs = &[400, 401, 403, 404, 413, 415, 422, 429, 500][..];
    let item = published::<TrackerView>();
    let mut list_p = path_params(proj);
    list_p.extend(query_params(list_params()));
    let mut post = op(
        "Trackers",
        "Create one or more trackers", "Creates one tracker (object body) or 1 to 1000 (`{items}`), all validated first, and answers 201 with a Tracker array in input order, even for one. `(type, name, domain)` is unique within the project (422 `tracker already exists`). With `matchType: \"project\"` and `matchedTrackerId` naming a tracker of the project, that tracker is updated instead, with `overrideFields` (or every field given); an unknown id gives 422. `global` is treated as `new`. Role: admin or owner.",
        path_params(proj),
        Some(trackers::create_json_schema()),
        201,
        published::<Vec<TrackerView>>(),
        write_errs,
        true,
    );
    post["description"] = json!("One tracker object, or `{\"items\": [...]}` with 1 to 1000. Answers the trackers in input order, always as an array. `matchType: \"project\"` with `matchedTrackerId` updates that tracker of the project (with `overrideFields`, or every provided field); `(type, name, domain)` is unique in a project (422 `tracker already exists`); a refused item stores nothing of the call. `detectedName` is stored, never answered.");
    paths.insert(
        COLLECTION.into(),
        json!({
            "get": op("Trackers", "Trackers of a project", "Lists the project's trackers: cookies, scripts, iframes, images, links and storage keys found on its sites or entered by hand, with the category the site client blocks them by. Role: viewer or above.", list_p, None, 200, published::<Page<TrackerView>>(), std_errs, true),
            "post": post,
        }),
    );
    paths.insert(
        ONE.into(),
        json!({
            "get": op("Trackers", "Get one tracker", "Answers one tracker of the project. Role: viewer or above.", path_params(one), None, 200, item.clone(), std_errs, true),
            "patch": op("Trackers", "Update (e.g. classify) a tracker", "Changes a tracker, typically its `category`, which decides when the site client releases it. Role: admin or owner.", path_params(one), Some(trackers::patch_schema().json_schema()), 200, item.clone(), write_errs, true),
            "delete": op("Trackers", "Delete a tracker", "Deletes a tracker and answers it. Role: admin or owner.", path_params(one), None, 200, item, std_errs, true),
        }),
    );
}
