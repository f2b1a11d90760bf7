//! `/site-v1/{projectId}/compliance-requests…` and `/site-v1/{projectId}/verify/{token}`:
//! the data subject's side of a compliance request (§5.3): filing it with the session's
//! identity, reading their own requests, verifying by code or by link, and downloading the
//! response files.
use crate::error::ApiResult;
use crate::extract::{read_json, read_json_text, validated, PathParams};
use crate::respond::{created, ok, Json, Page};
use crate::routes::files::{file_response, stored_file};
use crate::site::{Client, SiteSession, SITE_BODY_LIMIT};
use crate::AppState;
use accord_core::compliance::wire::SiteComplianceRequest;
use accord_core::compliance::{Actor, RequestFilter, STATUSES};
use accord_core::lifecycle::{self, SiteCreateRequest, VerifyCode, HOUR_MS};
use accord_core::query::{self, p, paging, Kind, Param};
use accord_core::time::now_ms;
use accord_core::usecases::compliance_requests::{self as usecase, Origin};
use accord_core::Error;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::sync::OnceLock;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/site-v1/{projectId}/compliance-requests",
            get(list).post(create),
        )
        .route(
            "/site-v1/{projectId}/compliance-requests/{complianceRequestId}",
            get(get_one),
        )
        .route(
            "/site-v1/{projectId}/compliance-requests/{complianceRequestId}/verify",
            axum::routing::post(verify_code),
        )
        .route(
            "/site-v1/{projectId}/compliance-requests/{complianceRequestId}/files/{fileName}",
            get(download),
        )
        .route(
            "/site-v1/{projectId}/verify/{token}",
            get(link_page).post(link_confirm),
        )
}

const SITE_SORTS: &[&str] = &["dateCreated", "requestDate", "status"];

fn list_params() -> &'static [Param] {
    static P: OnceLock<Vec<Param>> = OnceLock::new();
    P.get_or_init(|| {
        let mut v = paging(SITE_SORTS);
        v.push(
            p("status", Kind::EnumList(STATUSES))
                .doc("Only requests in these statuses; repeat the key for several."),
        );
        v
    })
}

/// Seconds until the oldest request of a full window leaves it.
fn retry_after(oldest: Option<i64>, now: i64) -> u64 {
    let until = oldest.unwrap_or(now) + HOUR_MS - now;
    (until.max(1000) as u64).div_ceil(1000)
}

async fn create(
    State(state): State<AppState>,
    session: SiteSession,
    client: Client,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<SiteComplianceRequest>> {
    let (raw, text) = read_json_text(&headers, body, SITE_BODY_LIMIT).await?;
    let mut input: SiteCreateRequest = validated(&raw, lifecycle::site_create_schema())?;
    input.request_details = accord_core::compliance::request_details_as_written(&text)?
        .pop()
        .flatten();
    lifecycle::check_site_create(&input)?;
    let now = now_ms();
    let ip = client.ip.map(|i| i.to_string());
    let counts = state
        .store
        .site_create_counts(
            session.project.id,
            ip.as_deref(),
            &input.user_email.trim().to_lowercase(),
            now - HOUR_MS,
        )
        .await?;
    if counts.by_ip >= lifecycle::SITE_CREATES_PER_IP_HOUR {
        return Err(Error::TooManyRequests(retry_after(counts.oldest_by_ip, now)).into());
    }
    if counts.by_email >= lifecycle::SITE_CREATES_PER_EMAIL_HOUR {
        return Err(Error::TooManyRequests(retry_after(counts.oldest_by_email, now)).into());
    }
    let identity = session.identity(&state).await?;
    let info = session.info(&state).await?;
    let cr = usecase::create(
        state.store.as_ref(),
        state.mail_wake.as_ref(),
        &session.project,
        vec![input.to_create(identity)],
        Origin::Session(info),
    )
    .await?
    .pop()
    .ok_or_else(|| Error::internal("site create stored nothing"))?;
    Ok(created(cr.to_site_wire()))
}

async fn list(
    State(state): State<AppState>,
    session: SiteSession,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Page<SiteComplianceRequest>>> {
    let q = query::parse(raw.as_deref(), list_params())?;
    let identity = session.identity(&state).await?;
    let page = query::Page::from_query(&q, "dateCreated");
    let filter = RequestFilter {
        organization_id: session.project.organization_id,
        project_ids: vec![session.project.id],
        concord_id: Some(identity.to_string()),
        status: q.list("status").map(<[String]>::to_vec).unwrap_or_default(),
        now: now_ms(),
        ..Default::default()
    };
    let (total, items) = state.store.list_compliance_requests(&filter, &page).await?;
    let items = items.iter().map(|c| c.to_site_wire()).collect();
    Ok(ok(Page::new(&page, total, items)))
}

/// The session identity's own request, or 404.
async fn own_request(
    state: &AppState,
    session: &SiteSession,
) -> ApiResult<accord_core::compliance::ComplianceRequest> {
    let id = session.path.uuid("complianceRequestId")?;
    let identity = session.identity(state).await?;
    let cr = state
        .store
        .get_compliance_request(session.project.organization_id, session.project.id, id)
        .await?
        .filter(|cr| cr.concord_id == identity)
        .ok_or_else(Error::not_found)?;
    Ok(cr)
}

async fn get_one(
    State(state): State<AppState>,
    session: SiteSession,
) -> ApiResult<Json<SiteComplianceRequest>> {
    let cr = own_request(&state, &session).await?;
    Ok(ok(cr.to_site_wire()))
}

async fn verify_code(
    State(state): State<AppState>,
    session: SiteSession,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<SiteComplianceRequest>> {
    let id = session.path.uuid("complianceRequestId")?;
    let raw = read_json(&headers, body, SITE_BODY_LIMIT).await?;
    let body: VerifyCode = validated(&raw, lifecycle::verify_code_schema())?;
    let cr = usecase::verify_by_code(state.store.as_ref(), session.project.id, id, body.code)
        .await?
        .ok_or_else(Error::not_found)?;
    Ok(ok(cr.to_site_wire()))
}

async fn download(State(state): State<AppState>, session: SiteSession) -> ApiResult<Response> {
    let cr = own_request(&state, &session).await?;
    let name = session.path.str("fileName").to_string();
    if cr.status != accord_core::compliance::RESOLVED {
        return Err(Error::not_found().into());
    }
    let file = cr
        .files
        .iter()
        .find(|f| f.name == name)
        .cloned()
        .ok_or_else(Error::not_found)?;
    let (bytes, size) = stored_file(&state, &file.key).await?;
    let days = session.project.purge_days_after_download();
    let file_name = file.name.clone();
    usecase::update(
        state.store.as_ref(),
        state.mail_wake.as_ref(),
        (cr.organization_id, cr.project_id, cr.id),
        Actor { account_id: None },
        move |cr| Ok(lifecycle::subject_download(cr, &file_name, days, now_ms())),
    )
    .await?;
    Ok(file_response(&file.name, &file.media_type, bytes, size))
}

// ---------------------------------------------------------------------------------------
// Verification link pages

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\"><title>{title}</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#222}}\
         button{{font-size:1rem;padding:.6rem 1.4rem;cursor:pointer}}</style></head>\
         <body><h1>{title}</h1>{body}</body></html>\n"
    );
    let mut res = (status, html).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    res
}

fn invalid_link() -> Response {
    page(
        StatusCode::GONE,
        "This link is invalid or has expired",
        "<p>Ask for a new verification message, or enter the code you received.</p>",
    )
}

/// The project of a verification link: an active project, else 404.
async fn link_project(state: &AppState, path: &PathParams) -> ApiResult<uuid::Uuid> {
    let pid = path.uuid("projectId")?;
    state
        .store
        .site_project(pid)
        .await?
        .filter(accord_core::store::Project::is_active)
        .map(|p| p.id)
        .ok_or_else(|| Error::not_found().into())
}

/// A GET never verifies, so link scanners cannot: it shows one button that POSTs back.
async fn link_page(State(state): State<AppState>, path: PathParams) -> ApiResult<Response> {
    link_project(&state, &path).await?;
    Ok(page(
        StatusCode::OK,
        "Confirm your request",
        "<p>Confirm that you made this privacy request.</p>\
         <form method=\"post\"><button type=\"submit\">Confirm</button></form>",
    ))
}

async fn link_confirm(State(state): State<AppState>, path: PathParams) -> ApiResult<Response> {
    let pid = link_project(&state, &path).await?;
    let token = path.str("token");
    if token.is_empty() || token.len() > 128 {
        return Ok(invalid_link());
    }
    if usecase::verify_by_link(state.store.as_ref(), pid, token).await? {
        Ok(page(
            StatusCode::OK,
            "Your request has been verified",
            "<p>Thank you. Your request has been submitted and will be answered within the legal deadline.</p>",
        ))
    } else {
        Ok(invalid_link())
    }
}

/// The paths of this module in the Site API document.
pub fn document(paths: &mut serde_json::Map<String, serde_json::Value>) {
    use crate::docs::{op, query_params};
    use accord_core::schema::published;
    use serde_json::json;
    let uuid_param = |n: &str| json!({"name": n, "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}});
    let pid = || vec![uuid_param("projectId")];
    let one = || vec![uuid_param("projectId"), uuid_param("complianceRequestId")];
    let errs = &[400, 401, 403, 404, 429, 500][..];
    let write_errs = &[400, 401, 403, 404, 413, 415, 422, 429, 500][..];
    let cr = published::<SiteComplianceRequest>();
    let mut list_p = pid();
    list_p.extend(query_params(list_params()));
    let envelope = published::<Page<SiteComplianceRequest>>();
    paths.insert(
        "/{projectId}/compliance-requests".into(),
        json!({
            "get": op("Compliance Requests", "Compliance requests of the current identity", "Lists the compliance requests of the session's identity. Session holders only.", list_p, None, 200, envelope, errs, true),
            "post": op("Compliance Requests", "Create a compliance request for the current identity", "Files a compliance request for the session's identity, `pending_verification` with a code emailed to `userEmail` (§3.6); the session record is copied into `session`. At most 10 per hour per client address and 3 per hour per `userEmail` in the project (429). Session holders only.", pid(), Some(lifecycle::site_create_schema().json_schema()), 201, cr.clone(), write_errs, true),
        }),
    );
    paths.insert(
        "/{projectId}/compliance-requests/{complianceRequestId}".into(),
        json!({"get": op("Compliance Requests", "Get one of the current identity's compliance requests", "Answers one compliance request of the session's identity; any other gives 404. Session holders only.", one(), None, 200, cr.clone(), errs, true)}),
    );
    paths.insert(
        "/{projectId}/compliance-requests/{complianceRequestId}/verify".into(),
        json!({"post": op("Compliance Requests", "Submit the verification code", "Verifies a pending request with the code the subject received (Accord extension); any session of the project may send it, since the code is the proof. Wrong code: 422 `invalid verification code` (5 attempts); expired or exhausted: 422 `verification code expired`; not pending: 422. Answers the request, now `submitted`. Session holders only.", one(), Some(lifecycle::verify_code_schema().json_schema()), 200, cr, write_errs, true)}),
    );
    let mut file_params = one();
    file_params.push(json!({"name": "fileName", "in": "path", "required": true, "schema": {"type": "string", "maxLength": 255}}));
    let mut download = op(
        "Compliance Requests",
        "Download a response file",
        "Streams a response file of a `resolved` request of the session's identity (404 otherwise) and writes `files_downloaded` (Accord extension). The first download sets `downloadDate`, and the files are then purged `filePurgeDaysAfterDownload` days later. Session holders only.",
        file_params,
        None,
        200,
        json!({}),
        errs,
        true,
    );
    download["responses"]["200"] = json!({"description": "The file, with the media type its upload part declared (application/octet-stream when it declared none)", "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}});
    paths.insert(
        "/{projectId}/compliance-requests/{complianceRequestId}/files/{fileName}".into(),
        json!({"get": download}),
    );
    let mut link_params = pid();
    link_params.push(
        json!({"name": "token", "in": "path", "required": true, "schema": {"type": "string"}}),
    );
    let html = |summary: &str, description: &str, codes: &[u16]| {
        // An unknown project, a bad id or the rate limit answer the JSON error body.
        let mut responses = crate::docs::errors(&[400, 404, 429, 500, 503]);
        for c in codes {
            responses.insert(c.to_string(), json!({"description": accord_core::error::reason_phrase(*c), "content": {"text/html": {"schema": {"type": "string"}}}}));
        }
        json!({"tags": ["Compliance Requests"], "summary": summary, "description": description, "parameters": link_params.clone(), "security": [], "responses": responses})
    };
    paths.insert(
        "/{projectId}/verify/{token}".into(),
        json!({
            "get": html("Verification link landing page (never verifies)", "The page the verification link of an email opens (Accord extension): a minimal HTML page with one Confirm button that POSTs to the same URL. A GET never verifies, so link scanners cannot. Sent with `Cache-Control: no-store` and `Referrer-Policy: no-referrer`. No credentials.", &[200]),
            "post": html("Confirm verification", "Verifies the request the link was sent for (Accord extension): answers an HTML page saying it is verified, or 410 with a page saying the link is invalid or expired. Any body, or none, is accepted and ignored. No credentials.", &[200, 410]),
        }),
    );
}
