//! `…/compliance-requests-events` at organization and project level (§3.10).
use crate::error::ApiResult;
use crate::extract::{ProjectScope, Readable, Viewer};
use crate::respond::{ok, Json, Page};
use crate::routes::compliance_requests::restrict_to;
use crate::AppState;
use accord_core::compliance::wire::Event;
use accord_core::compliance::{EventFilter, EVENT_NAMES, EVENT_SORTS};
use accord_core::query::{self, p, paging, uuid_param, Kind, Param, Query};
use axum::extract::{RawQuery, State};
use axum::routing::get;
use axum::Router;
use std::sync::OnceLock;
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/organizations/{organizationId}/compliance-requests-events",
            get(list_organization),
        )
        .route(
            "/organizations/{organizationId}/projects/{projectId}/compliance-requests-events",
            get(list),
        )
}

fn params(organization: bool) -> &'static [Param] {
    static PROJECT: OnceLock<Vec<Param>> = OnceLock::new();
    static ORG: OnceLock<Vec<Param>> = OnceLock::new();
    let build = |org: bool| {
        let mut v = paging(EVENT_SORTS);
        v.extend([
            p("startDate", Kind::DateTime).doc("Only events whose `dateCreated` is at or after this date-time (inclusive)."),
            p("endDate", Kind::DateTime).doc("Only events whose `dateCreated` is before this date-time (exclusive)."),
            p("accountId", uuid_param()).doc("Only events written by this API key or user account."),
            p("complianceRequestId", uuid_param()).doc("Only events of this compliance request."),
            p("complianceRequestEventId", uuid_param()).doc("Only the event with this id."),
            p("event", Kind::EnumList(EVENT_NAMES)).doc("Only events of these kinds (the vocabulary of §3.10); repeat the key for several (Accord extension)."),
        ]);
        if org {
            v.push(p("projectIds", Kind::UuidList).doc("Only events of these projects (each one the key can read, 403 otherwise); repeat the key for several."));
        }
        v
    };
    if organization {
        ORG.get_or_init(|| build(true))
    } else {
        PROJECT.get_or_init(|| build(false))
    }
}

fn filter_from(q: &Query, org: Uuid, projects: Vec<Uuid>) -> EventFilter {
    let id = |k: &str| q.str(k).and_then(|v| Uuid::parse_str(v).ok());
    EventFilter {
        organization_id: org,
        project_ids: projects,
        start_date: q.date("startDate"),
        end_date: q.date("endDate"),
        account_id: id("accountId"),
        compliance_request_id: id("complianceRequestId"),
        event_id: id("complianceRequestEventId"),
        events: q.list("event").map(<[String]>::to_vec).unwrap_or_default(),
    }
}

async fn respond(state: &AppState, filter: EventFilter, q: &Query) -> ApiResult<Json<Page<Event>>> {
    let page = query::Page::from_query(q, "dateCreated");
    let (total, items) = state.store.list_request_events(&filter, &page).await?;
    let items = items.iter().map(|e| e.to_wire()).collect();
    Ok(ok(Page::new(&page, total, items)))
}

async fn list(
    State(state): State<AppState>,
    scope: ProjectScope<Viewer>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Page<Event>>> {
    let org = scope.org;
    let pid = scope.project_id;
    let q = query::parse(raw.as_deref(), params(false))?;
    scope.project()?;
    respond(&state, filter_from(&q, org, vec![pid]), &q).await
}

async fn list_organization(
    State(state): State<AppState>,
    scope: Readable,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Page<Event>>> {
    let q = query::parse(raw.as_deref(), params(true))?;
    let projects = restrict_to(scope.projects, q.list("projectIds"))?;
    respond(&state, filter_from(&q, scope.org, projects), &q).await
}
