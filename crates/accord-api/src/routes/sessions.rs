//! `/privacy-v1/organizations/{organizationId}/projects/{projectId}/sessions`: the records
//! of minted site sessions (§5.9).
use crate::error::ApiResult;
use crate::extract::{ProjectScope, Viewer};
use crate::respond::{ok, Json, Page};
use crate::AppState;
use accord_core::query::{self, p, paging, Kind, Param};
use accord_core::schema::published;
use accord_core::schema::string;
use accord_core::site::{SessionFilter, SessionRecord, SESSION_SORTS};
use accord_core::Error;
use axum::extract::{RawQuery, State};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Map, Value};
use std::sync::OnceLock;

const COLLECTION: &str = "/organizations/{organizationId}/projects/{projectId}/sessions";
const ONE: &str = "/organizations/{organizationId}/projects/{projectId}/sessions/{sessionId}";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(COLLECTION, get(list))
        .route(ONE, get(get_one))
}

pub fn list_params() -> &'static [Param] {
    static P: OnceLock<Vec<Param>> = OnceLock::new();
    P.get_or_init(|| {
        let s128 = || Kind::Str(string().max(128));
        let mut v = paging(SESSION_SORTS);
        v.extend([
            p("concordId", s128()).doc("Only sessions of this identity (exact)."),
            p("sessionId", s128()).doc("Only the session with this id (exact)."),
            p("ipAddress", s128()).doc("Only sessions from this address (exact)."),
            p("domain", s128()).doc("Only sessions minted on this host (exact)."),
            p("geography", s128())
                .doc("Only sessions from this location, `CC` or `CC-SUB` (exact)."),
            p("userAgent", s128()).doc(
                "Case-insensitive substring of the session's user agent (at most 128 characters).",
            ),
            p("gpc", Kind::Bool).doc("Only sessions whose GPC flag is this."),
            p("startDate", Kind::DateTime)
                .doc("Only sessions minted at or after this date-time (inclusive)."),
            p("endDate", Kind::DateTime)
                .doc("Only sessions minted before this date-time (exclusive)."),
        ]);
        v
    })
}

async fn list(
    State(state): State<AppState>,
    scope: ProjectScope<Viewer>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Page<SessionRecord>>> {
    let pid = scope.project_id;
    let q = query::parse(raw.as_deref(), list_params())?;
    scope.project()?;
    let page = query::Page::from_query(&q, "dateCreated");
    let s = |k: &str| q.str(k).map(str::to_string);
    let filter = SessionFilter {
        project_id: pid,
        concord_id: s("concordId"),
        session_id: s("sessionId"),
        ip_address: s("ipAddress"),
        domain: s("domain"),
        geography: s("geography"),
        user_agent: s("userAgent"),
        gpc: q.bool("gpc"),
        start_date: q.date("startDate"),
        end_date: q.date("endDate"),
    };
    let (total, items) = state.store.list_sessions(&filter, &page).await?;
    Ok(ok(Page::new(&page, total, items)))
}

async fn get_one(
    State(state): State<AppState>,
    scope: ProjectScope<Viewer>,
) -> ApiResult<Json<SessionRecord>> {
    let pid = scope.project_id;
    let id = scope.id("sessionId")?;
    scope.project()?;
    let s = state
        .store
        .get_session(pid, id)
        .await?
        .ok_or_else(Error::not_found)?;
    Ok(ok(s))
}

/// The OpenAPI paths of this resource, for the Privacy API document.
pub fn document(paths: &mut Map<String, Value>) {
    use crate::docs::{op, path_params, query_params};
    let proj = &["organizationId", "projectId"][..];
    let one = &["organizationId", "projectId", "sessionId"][..];
    let std_errs = &[400, 401, 403, 404, 429, 500][..];
    let schema = published::<SessionRecord>();
    let envelope = published::<Page<SessionRecord>>();
    let mut list_p = path_params(proj);
    list_p.extend(query_params(list_params()));
    paths.insert(
        COLLECTION.into(),
        json!({"get": op("Sessions", "Session records", "Lists the site sessions minted for the project: who (`concordId`), where from (address, domain, geography, user agent) and whether GPC was on. Role: viewer or above.", list_p, None, 200, envelope, std_errs, true)}),
    );
    paths.insert(
        ONE.into(),
        json!({"get": op("Sessions", "One session record", "Answers one site session record of the project. Role: viewer or above.", path_params(one), None, 200, schema, std_errs, true)}),
    );
}
