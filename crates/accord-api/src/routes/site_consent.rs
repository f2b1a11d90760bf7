//! `/site-v1/{projectId}/consent-…`: the site's consent endpoints (§5.4). The rules are
//! those of the Privacy API (`accord_core::consent`) in their site variant: active types
//! only, no imports, `consentDate` now, and the session object of the recording session.
use crate::error::ApiResult;
use crate::extract::read_json_bytes;
use crate::respond::{created, ok, Json, Page};
use crate::site::{SiteSession, SITE_BODY_LIMIT};
use crate::AppState;
use accord_core::consent::{
    self, Api, ConsentEventFilter, ConsentEventView, ConsentStateView, ConsentType,
    ConsentTypeFilter, Counted, EventAnswer,
};
use accord_core::query::{self, p, Kind, Param};
use accord_core::schema::{published, string};
use accord_core::usecases::consent_events::{self, Recorder};
use accord_core::Error;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Map, Value};
use std::sync::OnceLock;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/site-v1/{projectId}/consent-types", get(consent_types))
        .route(
            "/site-v1/{projectId}/consent-events",
            get(consent_events).post(create_consent_events),
        )
        .route(
            "/site-v1/{projectId}/consent-events/{consentEventId}",
            get(consent_event),
        )
        .route("/site-v1/{projectId}/consent-state", get(consent_state))
}

const SITE_TYPE_SORTS: &[&str] = &["dateCreated", "name", "category", "label"];

fn type_params() -> &'static [Param] {
    static P: OnceLock<Vec<Param>> = OnceLock::new();
    P.get_or_init(|| {
        let mut v = query::paging(SITE_TYPE_SORTS);
        v.push(
            p("category", Kind::Str(string().one_of(consent::CATEGORIES)))
                .doc("Only types of this category."),
        );
        v
    })
}

fn event_params() -> &'static [Param] {
    static P: OnceLock<Vec<Param>> = OnceLock::new();
    P.get_or_init(|| {
        let mut v: Vec<Param> = query::paging(&["consentDate"])
            .into_iter()
            .filter(|p| p.name == "offset" || p.name == "limit")
            .collect();
        v.push(
            p("startDate", Kind::DateTime)
                .doc("Only events whose `consentDate` is at or after this date-time (inclusive)."),
        );
        v.push(
            p("endDate", Kind::DateTime)
                .doc("Only events whose `consentDate` is before this date-time (exclusive)."),
        );
        v
    })
}

async fn consent_types(
    State(state): State<AppState>,
    session: SiteSession,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Page<ConsentType>>> {
    let q = query::parse(raw.as_deref(), type_params())?;
    let page = query::Page::from_query(&q, "dateCreated");
    let filter = ConsentTypeFilter {
        organization_id: session.project.organization_id,
        project_id: session.project.id,
        category: q.str("category").map(str::to_string),
        status: Some("active".into()),
        ..Default::default()
    };
    let (total, items) = state.store.list_consent_types(&filter, &page).await?;
    Ok(ok(Page::new(&page, total, items)))
}

async fn consent_events(
    State(state): State<AppState>,
    session: SiteSession,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Page<EventAnswer>>> {
    let q = query::parse(raw.as_deref(), event_params())?;
    let me = session.identity(&state).await?;
    let mut page = query::Page::from_query(&q, "consentDate");
    page.sort = "consentDate".into();
    page.desc = true;
    let filter = ConsentEventFilter {
        organization_id: session.project.organization_id,
        project_id: session.project.id,
        start_date: q.date("startDate"),
        end_date: q.date("endDate"),
        concord_id: Some(me.to_string()),
        ..Default::default()
    };
    let (total, items) = state.store.list_consent_events(&filter, &page).await?;
    count_read(&state, &session);
    let items = items.into_iter().map(EventAnswer).collect();
    Ok(ok(Page::new(&page, total, items)))
}

async fn consent_event(
    State(state): State<AppState>,
    session: SiteSession,
) -> ApiResult<Json<EventAnswer>> {
    let id = session.path.uuid("consentEventId")?;
    let me = session.identity(&state).await?;
    let e = state
        .store
        .get_consent_event(session.project.organization_id, session.project.id, id)
        .await?
        .filter(|e| e.concord_id == me)
        .ok_or_else(Error::not_found)?;
    count_read(&state, &session);
    Ok(ok(EventAnswer(e)))
}

async fn create_consent_events(
    State(state): State<AppState>,
    session: SiteSession,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Counted<EventAnswer>>> {
    let raw = read_json_bytes(&headers, body, SITE_BODY_LIMIT).await?;
    let inputs = consent::parse_events_json(&raw, Api::Site)?;
    let recorder = Recorder::Session {
        concord_id: session.identity(&state).await?,
        info: session.info(&state).await?,
    };
    // Group commit (DESIGN principle 4): answered once the batch holding them commits.
    let events = consent_events::create(
        state.store.as_ref(),
        &state.ingest,
        &session.project,
        inputs,
        recorder,
    )
    .await?;
    let items: Vec<EventAnswer> = events.into_iter().map(EventAnswer).collect();
    Ok(created(items.into()))
}

async fn consent_state(
    State(state): State<AppState>,
    session: SiteSession,
) -> ApiResult<Json<Counted<ConsentStateView>>> {
    let me = session.identity(&state).await?;
    let items = state
        .store
        .consent_state(
            session.project.organization_id,
            session.project.id,
            me,
            true,
        )
        .await?;
    count_read(&state, &session);
    Ok(ok(ConsentStateView::answer(&items, me)))
}

/// Counts an answered read of consent state or events for the metrics (§7.10), in memory.
fn count_read(state: &AppState, session: &SiteSession) {
    state.reads.record(
        session.project.organization_id,
        session.project.id,
        accord_core::time::now_ms(),
    );
}

/// The paths of this module, for the Site API document.
pub fn document(paths: &mut Map<String, Value>) {
    use crate::docs::{op, query_params};
    let pid = || {
        vec![
            json!({"name": "projectId", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}}),
        ]
    };
    let with = |mut a: Vec<Value>, b: Vec<Value>| {
        a.extend(b);
        a
    };
    let errs = &[400, 401, 403, 404, 429, 500][..];
    let event = published::<ConsentEventView>();
    paths.insert(
        "/{projectId}/consent-types".into(),
        json!({"get": op("Consent", "Active consent types of the project", "Lists the project's `active` consent types. Session holders only.", with(pid(), query_params(type_params())), None, 200, published::<Page<ConsentType>>(), errs, true)}),
    );
    paths.insert(
        "/{projectId}/consent-events".into(),
        json!({
            "get": op("Consent", "Consent events of the current identity", "Lists the consent events of the session's identity, newest `consentDate` first. Session holders only.", with(pid(), query_params(event_params())), None, 200, published::<Page<ConsentEventView>>(), errs, true),
            "post": op("Consent", "Create consent event(s) for the current user", "Records 1 to 100 consent events for the session's identity, with the session copied into each (all validated first; one failure stores none). Each must name an active consent type of the project, by `consentType` or by (category, subcategory, label) (422 otherwise), accept its state, and not be an `import`. Answers `{count, items}`. Session holders only.", pid(), Some(consent::events_body_json_schema(Api::Site)), 201,
                published::<Counted<ConsentEventView>>(), &[400, 401, 403, 404, 413, 415, 422, 429, 500, 503], true),
        }),
    );
    let mut one = pid();
    one.push(json!({"name": "consentEventId", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}}));
    paths.insert(
        "/{projectId}/consent-events/{consentEventId}".into(),
        json!({"get": op("Consent", "Get one consent event of the current identity", "Answers one consent event of the session's identity; any other gives 404. Session holders only.", one, None, 200, event, errs, true)}),
    );
    paths.insert(
        "/{projectId}/consent-state".into(),
        json!({"get": op("Consent", "Consent state of the current identity", "The current consent of the session's identity per active consent type: for each, its unexpired event with the latest `consentDate` (events of merged identities count). Answered `{count, items}`, newest first. Session holders only.", pid(), None, 200, published::<Counted<ConsentStateView>>(), errs, true)}),
    );
}
