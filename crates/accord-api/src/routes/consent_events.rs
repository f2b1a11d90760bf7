//! `/privacy-v1/organizations/{organizationId}/projects/{projectId}/consent-events`: list,
//! create 1..1000 (all or nothing) and get one (§4.1, §4.3).
use crate::error::ApiResult;
use crate::extract::{JsonBytes, Limited, ProjectScope, Viewer};
use crate::respond::{created, ok, Json, Page};
use crate::routes::consent_types::{subcategory_filter, subcategory_param_schema};
use crate::AppState;
use accord_core::consent::{
    self, Api, ConsentEventFilter, ConsentEventView, Counted, EventAnswer, ACTIONS, CATEGORIES,
    EVENT_SORTS, STATES,
};
use accord_core::query::{self, p, paging, uuid_param, Kind, Param};
use accord_core::schema::{published, string};
use accord_core::usecases::consent_events::{self, Recorder};
use accord_core::Error;
use axum::extract::{RawQuery, State};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Map, Value};
use std::sync::OnceLock;
use uuid::Uuid;

pub const COLLECTION: &str = "/organizations/{organizationId}/projects/{projectId}/consent-events";
pub const ONE: &str =
    "/organizations/{organizationId}/projects/{projectId}/consent-events/{consentEventId}";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(COLLECTION, get(list).post(create))
        .route(ONE, get(get_one))
}

/// Query of the list (§4.3). `subcategory` is read by [`subcategory_filter`].
pub fn list_params() -> &'static [Param] {
    static P: OnceLock<Vec<Param>> = OnceLock::new();
    P.get_or_init(|| {
        let s64 = || Kind::Str(string().max(64));
        let mut v = paging(EVENT_SORTS);
        v.extend([
            p("startDate", Kind::DateTime)
                .doc("Only events whose `consentDate` is at or after this date-time (inclusive)."),
            p("endDate", Kind::DateTime)
                .doc("Only events whose `consentDate` is before this date-time (exclusive)."),
            p("category", Kind::EnumList(CATEGORIES))
                .doc("Only events of these categories; repeat the key for several."),
            p("label", Kind::Str(string().max(128))).doc("Only events with this label (exact)."),
            p("consentState", Kind::EnumList(STATES))
                .doc("Only events recording these states; repeat the key for several."),
            p("consentAction", Kind::EnumList(ACTIONS))
                .doc("Only events given by these actions; repeat the key for several."),
            p("consentType", uuid_param())
                .doc("Only events of this consent type (Accord extension)."),
            p("concordId", s64()).doc("Only events of this identity (exact)."),
            p("submitter", s64()).doc("Only events recorded by this API key (exact)."),
            p("sessionId", s64())
                .doc("Only events recorded in this site session (`session.id`, exact)."),
            p("domain", Kind::Str(string().max(253)))
                .doc("Only events whose `session.domain` is this (exact, case-insensitive)."),
            p("geography", s64())
                .doc("Only events whose `session.geography` is this (exact, case-insensitive)."),
        ]);
        v
    })
}

async fn list(
    State(state): State<AppState>,
    scope: ProjectScope<Viewer>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Page<EventAnswer>>> {
    let org = scope.org;
    let pid = scope.project_id;
    let q = query::parse(raw.as_deref(), list_params())?;
    let subcategory = subcategory_filter(raw.as_deref())?;
    scope.project()?;
    let page = query::Page::from_query(&q, "dateCreated");
    let s = |k: &str| q.str(k).map(str::to_string);
    let l = |k: &str| q.list(k).map(<[String]>::to_vec).unwrap_or_default();
    let filter = ConsentEventFilter {
        organization_id: org,
        project_id: pid,
        start_date: q.date("startDate"),
        end_date: q.date("endDate"),
        category: l("category"),
        subcategory,
        label: s("label"),
        consent_state: l("consentState"),
        consent_action: l("consentAction"),
        consent_type: q.str("consentType").and_then(|v| Uuid::parse_str(v).ok()),
        concord_id: s("concordId"),
        submitter: s("submitter"),
        session_id: s("sessionId"),
        domain: s("domain"),
        geography: s("geography"),
    };
    let (total, items) = state.store.list_consent_events(&filter, &page).await?;
    let items = items.into_iter().map(EventAnswer).collect();
    Ok(ok(Page::new(&page, total, items)))
}

async fn create(
    State(state): State<AppState>,
    scope: ProjectScope<Limited>,
    JsonBytes(raw): JsonBytes,
) -> ApiResult<Json<Counted<EventAnswer>>> {
    let inputs = consent::parse_events_json(&raw, Api::Privacy)?;
    let events = consent_events::create(
        state.store.as_ref(),
        &state.ingest,
        scope.project()?,
        inputs,
        Recorder::ApiKey(scope.who.key_id),
    )
    .await?;
    let items: Vec<EventAnswer> = events.into_iter().map(EventAnswer).collect();
    Ok(created(items.into()))
}

async fn get_one(
    State(state): State<AppState>,
    scope: ProjectScope<Viewer>,
) -> ApiResult<Json<EventAnswer>> {
    let org = scope.org;
    let pid = scope.project_id;
    let id = scope.id("consentEventId")?;
    scope.project()?;
    let e = state
        .store
        .get_consent_event(org, pid, id)
        .await?
        .ok_or_else(Error::not_found)?;
    Ok(ok(EventAnswer(e)))
}

/// The OpenAPI paths of this resource, for the Privacy API document.
pub fn document(paths: &mut Map<String, Value>) {
    use crate::docs::{op, path_params, query_params};
    let proj = &["organizationId", "projectId"][..];
    let one = &["organizationId", "projectId", "consentEventId"][..];
    let std_errs = &[400, 401, 403, 404, 429, 500][..];
    let create_errs = &[400, 401, 403, 404, 413, 415, 422, 429, 500, 503][..];
    let mut list_p = path_params(proj);
    list_p.extend(query_params(list_params()));
    list_p.push(subcategory_param_schema());
    paths.insert(
        COLLECTION.into(),
        json!({
            "get": op("Consent Events", "Consent events of a project", "Lists the project's consent events, append-only records of each consent given or withdrawn. Role: viewer or above.", list_p, None, 200, published::<Page<ConsentEventView>>(), std_errs, true),
            "post": op("Consent Events", "Create consent event(s)", "Records 1 to 1000 consent events (all validated first; one failure stores none), answered `{count, items}` in input order. Each event's identity is found or made from its identifiers (§3.5) and its consent type is `consentType` or found by (category, subcategory, label): an event without a `label` matches no type, the default ones included, and is stored without a type. The type's `validStates` bound `consentState`; archived and obsolete types still accept events here (imports). Role: limited or above. An archived project gives 422 `project is archived`.", path_params(proj), Some(consent::events_body_json_schema(Api::Privacy)), 201, published::<Counted<ConsentEventView>>(), create_errs, true),
        }),
    );
    paths.insert(
        ONE.into(),
        json!({"get": op("Consent Events", "Get one consent event", "Answers one consent event of the project (Accord extension). Role: viewer or above.", path_params(one), None, 200, published::<ConsentEventView>(), std_errs, true)}),
    );
}
