//! `…/projects/{projectId}/gcm-scans`: Google Consent Mode scans of a project's domains or
//! of one URL (§8.4), run in the background through the server's
//! [`ScanEngine`](accord_core::scans::ScanEngine).
use crate::error::ApiResult;
use crate::extract::{read_json, read_limited, Admin, ProjectScope, Viewer, PRIVACY_BODY_LIMIT};
use crate::respond::{ok, Json, Page};
use crate::AppState;
use accord_core::gcm::{
    self, GcmScan, GcmScanBody, GcmScanFilter, GCM_SCAN_TYPES, GCM_SORTS, GCM_STATUSES,
};
use accord_core::query::{self, p, paging, Kind, Param};
use accord_core::schema::{parse, published};
use accord_core::usecases::gcm_scans;
use accord_core::Error;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Map, Value};
use std::sync::OnceLock;

const COLLECTION: &str = "/organizations/{organizationId}/projects/{projectId}/gcm-scans";
const ONE: &str = "/organizations/{organizationId}/projects/{projectId}/gcm-scans/{gcmScanId}";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(COLLECTION, get(list).post(start))
        .route(ONE, get(get_one))
}

/// Query of the GCM scan list (§8.4).
pub fn list_params() -> &'static [Param] {
    static P: OnceLock<Vec<Param>> = OnceLock::new();
    P.get_or_init(|| {
        let mut v = paging(GCM_SORTS);
        v.extend([
            p("status", Kind::EnumList(GCM_STATUSES))
                .doc("Only scans in these states (`running`, `completed`, `failed`); repeat for several."),
            p("scanType", Kind::EnumList(GCM_SCAN_TYPES))
                .doc("Only scans of these types (`domains`, `custom`); repeat for several."),
        ]);
        v
    })
}

async fn list(
    State(state): State<AppState>,
    scope: ProjectScope<Viewer>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Page<GcmScan>>> {
    let q = query::parse(raw.as_deref(), list_params())?;
    let project = scope.project()?;
    let filter = GcmScanFilter {
        project_id: project.id,
        status: q.list("status").map(<[String]>::to_vec),
        scan_type: q.list("scanType").map(<[String]>::to_vec),
    };
    let page = query::Page::from_query(&q, "dateCreated");
    let (total, items) = state.store.list_gcm_scans(&filter, &page).await?;
    Ok(ok(Page::new(&page, total, items)))
}

async fn get_one(
    State(state): State<AppState>,
    scope: ProjectScope<Viewer>,
) -> ApiResult<Json<GcmScan>> {
    let project = scope.project()?;
    let id = scope.id("gcmScanId")?;
    Ok(ok(state
        .store
        .get_gcm_scan(project.id, id)
        .await?
        .ok_or_else(Error::not_found)?))
}

/// The body is optional: none (no Content-Type, nothing or blanks sent) scans every domain.
async fn body_of(headers: &HeaderMap, body: Body) -> ApiResult<GcmScanBody> {
    let raw = if headers.contains_key(header::CONTENT_TYPE) {
        read_json(headers, body, PRIVACY_BODY_LIMIT).await?
    } else {
        let bytes = read_limited(body, PRIVACY_BODY_LIMIT).await?;
        if !bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(Error::UnsupportedMediaType(
                "Content-Type must be application/json".into(),
            )
            .into());
        }
        json!({})
    };
    Ok(parse(&raw, gcm::start_schema())?)
}

async fn start(
    State(state): State<AppState>,
    scope: ProjectScope<Admin>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<GcmScan>> {
    let b = body_of(&headers, body).await?;
    let project = scope.project()?.clone();
    let (scan, work) = gcm_scans::start(
        state.store.as_ref(),
        &project,
        &b,
        state.config.scan_lease_ms,
    )
    .await?;
    let answer = scan.clone();
    let st = state.clone();
    tokio::spawn(async move {
        let id = scan.id;
        let engine = st.config.scan_engine.clone();
        let result = gcm_scans::run(st.store.as_ref(), engine.as_ref(), scan, work).await;
        crate::metrics::record_job("gcm_scan", result.is_ok());
        match result {
            Ok(s) if s.status == "failed" => {
                tracing::warn!(scan = %id, error = s.error.as_deref().unwrap_or(""), "GCM scan failed")
            }
            Ok(_) => {}
            Err(e) => tracing::error!(scan = %id, error = %e, "could not record a GCM scan"),
        }
    });
    Ok(Json(StatusCode::ACCEPTED, answer))
}

/// The OpenAPI paths of this resource, for the Privacy API document.
pub fn document(paths: &mut Map<String, Value>) {
    use crate::docs::{op, path_params, query_params};
    let proj = &["organizationId", "projectId"][..];
    let one = &["organizationId", "projectId", "gcmScanId"][..];
    let std_errs = &[400, 401, 403, 404, 429, 500][..];
    let write_errs = &[400, 401, 403, 404, 413, 415, 422, 429, 500][..];
    let item = published::<GcmScan>();
    let mut list_p = path_params(proj);
    list_p.extend(query_params(list_params()));
    let mut post = op(
        "GCM Scans",
        "Start a GCM scan of all project domains, or of one URL",
        "Checks each page for Google Consent Mode: a consent default (the site client or an inline call) before any Google tag, a consent update, and Google tags while the Default region has GCM disabled. Role: admin or owner.",
        path_params(proj),
        None,
        202,
        item.clone(),
        write_errs,
        true,
    );
    post["requestBody"] = json!({"required": false, "content": {"application/json": {"schema": gcm::start_schema().json_schema()}}});
    post["description"] = json!("Answers the new GcmScan (`status: \"running\"`); the pages are fetched and checked in the background, as tracker scans fetch them (the same redirect, time, size and network limits). A page that cannot be fetched makes the scan `failed`, with `error` naming it and why; the pages checked keep their results. 422 `project has no domains` without `url` and without domains.");
    paths.insert(
        COLLECTION.into(),
        json!({
            "get": op("GCM Scans", "GCM scans", "The GCM scans of the project, newest first by default, filtered by `status` and `scanType`. Role: viewer or above.", list_p, None, 200, published::<Page<GcmScan>>(), std_errs, true),
            "post": post,
        }),
    );
    paths.insert(
        ONE.into(),
        json!({"get": op("GCM Scans", "One GCM scan", "One GCM scan of the project with each page's result; 404 when the project has no such scan. Role: viewer or above.", path_params(one), None, 200, item, std_errs, true)}),
    );
}
