//! `…/projects/{projectId}/tracker-scan-history` and `…/tracker-scans`: the scan schedule
//! and history of a project, and manual scans (§8.3). Scans run in the background through
//! the server's [`ScanEngine`](accord_core::scans::ScanEngine); scheduled ones are started
//! by the job of [`crate::jobs::run_scheduled_scans`].
use crate::error::ApiResult;
use crate::extract::{Admin, JsonBody, ProjectScope, Viewer};
use crate::respond::{ok, Json};
use crate::AppState;
use accord_core::scans::{self, ScanEntry, ScanSchedule, TrackerScanHistory, HISTORY_KEPT};
use accord_core::schema::{parse, published};
use accord_core::store::Project;
use accord_core::time::now_ms;
use accord_core::usecases::tracker_scans;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Map, Value};

const HISTORY: &str = "/organizations/{organizationId}/projects/{projectId}/tracker-scan-history";
const SCANS: &str = "/organizations/{organizationId}/projects/{projectId}/tracker-scans";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(HISTORY, get(get_history).patch(update_schedule))
        .route(SCANS, post(start_scan))
}

/// The project's scan schedule, its defaults when it never set one.
pub async fn schedule_of(state: &AppState, project: &Project) -> ApiResult<ScanSchedule> {
    Ok(state
        .store
        .scan_schedule(project.id)
        .await?
        .unwrap_or_else(|| ScanSchedule::default_for(project.organization_id, project.id)))
}

async fn history(state: &AppState, schedule: &ScanSchedule) -> ApiResult<Json<TrackerScanHistory>> {
    let scans = state
        .store
        .scan_history(schedule.project_id, HISTORY_KEPT as u64)
        .await?;
    Ok(ok(TrackerScanHistory::new(schedule, &scans)))
}

async fn get_history(
    State(state): State<AppState>,
    scope: ProjectScope<Viewer>,
) -> ApiResult<Json<TrackerScanHistory>> {
    let project = scope.project()?;
    let schedule = schedule_of(&state, project).await?;
    history(&state, &schedule).await
}

async fn update_schedule(
    State(state): State<AppState>,
    scope: ProjectScope<Admin>,
    JsonBody(raw): JsonBody,
) -> ApiResult<Json<TrackerScanHistory>> {
    let b: scans::SchedulePatch = parse(&raw, scans::patch_schema())?;
    let project = scope.project()?;
    let schedule = save_schedule(&state, project, &b).await?;
    history(&state, &schedule).await
}

/// Applies a parsed schedule PATCH to `project`'s schedule and stores it: the Privacy
/// API's PATCH and the console's schedule form.
pub async fn save_schedule(
    state: &AppState,
    project: &Project,
    b: &scans::SchedulePatch,
) -> ApiResult<ScanSchedule> {
    let mut schedule = schedule_of(state, project).await?;
    schedule.apply(b, now_ms());
    state.store.save_scan_schedule(&schedule).await?;
    Ok(schedule)
}

async fn start_scan(
    State(state): State<AppState>,
    scope: ProjectScope<Admin>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<ScanEntry>> {
    crate::routes::projects::optional_empty_body(&headers, body).await?;
    let project = scope.project()?.clone();
    Ok(Json(StatusCode::ACCEPTED, run_now(&state, project).await?))
}

/// Starts a manual scan of `project` in the background (422 while one runs or without
/// domains) and answers its `running` entry.
pub async fn run_now(state: &AppState, project: Project) -> ApiResult<ScanEntry> {
    let lease = state.config.scan_lease_ms;
    let (scan, target) =
        tracker_scans::start(state.store.as_ref(), &project, "manual", lease).await?;
    let entry = ScanEntry::from(&scan);
    tokio::spawn(crate::jobs::run_scan(state.clone(), project, scan, target));
    Ok(entry)
}

/// The OpenAPI paths of this resource, for the Privacy API document.
pub fn document(paths: &mut Map<String, Value>) {
    use crate::docs::{op, path_params};
    let proj = &["organizationId", "projectId"][..];
    let std_errs = &[400, 401, 403, 404, 429, 500][..];
    let write_errs = &[400, 401, 403, 404, 413, 415, 422, 429, 500][..];
    let item = published::<TrackerScanHistory>();
    let mut patch = op(
        "Tracker Scans",
        "Update the scan schedule", "Changes the schedule of the project's tracker scans (UTC): `daily` at `scheduledHour`, `weekly` on `scheduledDayOfWeek`, `monthly` on `scheduledDayOfMonth` (clamped to the month's last day), `quarterly` as monthly in January, April, July and October. Answers the object. Role: admin or owner.",
        path_params(proj),
        Some(scans::patch_schema().json_schema()),
        200,
        item.clone(),
        write_errs,
        true,
    );
    patch["description"] = json!("Schedules run in UTC: `daily` at `scheduledHour`; `weekly` on `scheduledDayOfWeek` (0 = Sunday); `monthly` on `scheduledDayOfMonth`, clamped to the month's last day; `quarterly` as monthly in January, April, July and October.");
    paths.insert(
        HISTORY.into(),
        json!({
            "get": op("Tracker Scans", "Scan schedule configuration and history", "The project's scheduled tracker scan settings and its last 100 scans, newest first. Role: viewer or above.", path_params(proj), None, 200, item, std_errs, true),
            "patch": patch,
        }),
    );
    let mut start = op(
        "Tracker Scans",
        "Start a manual scan", "Starts a static scan of the project's domains (pages fetched without running JavaScript; cookies, scripts, iframes, images and links from other hosts detected and matched against the project's trackers, new ones created as `unclassified`) and answers 202 with its `running` history entry. A scan already running gives 422 `a scan is already running`; a project without domains 422 `project has no domains`. Role: admin or owner.",
        path_params(proj),
        None,
        202,
        published::<ScanEntry>(),
        write_errs,
        true,
    );
    start["requestBody"] = json!({"required": false, "content": {"application/json": {"schema": crate::routes::projects::identify_secret_body().json_schema()}}});
    start["description"] = json!("Answers the new `scanHistory` entry (`status: \"running\"`, `scanType: \"manual\"`); the scan runs in the background. 422 `a scan is already running` while another scan of the project runs, 422 `project has no domains` without domains.");
    paths.insert(SCANS.into(), json!({"post": start}));
}
