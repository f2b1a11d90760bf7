//! `/privacy-v1/organizations/{organizationId}[/projects/{projectId}]/compliance-requests`:
//! create, list, get and PATCH (§3.1–§3.9).
use crate::error::ApiResult;
use crate::extract::{validated, JsonBody, JsonBodyText, Limited, ProjectScope, Readable, Viewer};
use crate::respond::{created, ok, Json, Page};
use crate::AppState;
use accord_core::compliance::wire::PrivacyComplianceRequest;
use accord_core::compliance::{
    self, Actor, ComplianceRequest, CreateComplianceRequest, PatchComplianceRequest, RequestFilter,
    WireOptions, REQUEST_TYPES, RESOLUTION_STATUSES, SORTS, STATUSES,
};
use accord_core::query::{self, p, paging, uuid_param, Kind, Param, Query};
use accord_core::schema::string;
use accord_core::time::now_ms;
use accord_core::usecases::compliance_requests::{self as usecase, Origin};
use accord_core::Error;
use axum::extract::{RawQuery, State};
use axum::routing::get;
use axum::Router;
use serde::Serialize;
use serde_json::Value;
use std::sync::OnceLock;
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/organizations/{organizationId}/compliance-requests", get(list_organization))
        .route("/organizations/{organizationId}/projects/{projectId}/compliance-requests", get(list).post(create))
        .route(
            "/organizations/{organizationId}/projects/{projectId}/compliance-requests/{complianceRequestId}",
            get(get_one).patch(update),
        )
}

pub const INCLUDES: &[&str] = &["deadline"];

/// Query of endpoints that return one request.
pub fn include_params() -> Vec<Param> {
    vec![p("include", Kind::Include(INCLUDES)).doc("Comma-separated extras to add to each request: `deadline` adds `dueDate` and `dueDateExtended` (Accord extension). An unknown name gives 400.")]
}

/// Query of the lists (§3.9); `organization` adds `projectIds`.
pub fn list_params(organization: bool) -> &'static [Param] {
    static PROJECT: OnceLock<Vec<Param>> = OnceLock::new();
    static ORG: OnceLock<Vec<Param>> = OnceLock::new();
    let build = |org: bool| {
        let s128 = || Kind::Str(string().max(128));
        let mut v = paging(SORTS);
        v.extend([
            p("startDate", Kind::DateTime).doc("Only requests whose `requestDate` is at or after this date-time (inclusive)."),
            p("endDate", Kind::DateTime).doc("Only requests whose `requestDate` is before this date-time (exclusive); must be after `startDate` (400)."),
            p("complianceRequestId", uuid_param()).doc("Only the request with this id."),
            p("concordId", s128()).doc("Only requests of this identity (`concordId`, exact)."),
            p("sessionId", s128()).doc("Only requests filed in this site session (`session.id`, exact)."),
            p("request", Kind::EnumList(REQUEST_TYPES)).doc("Only requests of these types (`change`, `delete`, `view`, `do_not_sell`); repeat the key for several."),
            p("status", Kind::EnumList(STATUSES)).doc("Only requests in these statuses (`pending_verification`, `submitted`, `acknowledged`, `resolved`); repeat the key for several."),
            p(
                "resolutionStatus",
                Kind::Str(string().one_of(RESOLUTION_STATUSES)),
            )
            .doc("Only requests resolved with this status (exact)."),
            p("domain", s128()).doc("Only requests from this `domain` (exact, case-insensitive)."),
            p("geography", s128()).doc("Only requests whose `session.geography` is this (exact, case-insensitive)."),
            p("ipAddress", s128()).doc("Only requests whose `session.ipAddress` is this (exact)."),
            p("userEmail", s128()).doc("Case-insensitive substring of `user.email` (at most 128 characters)."),
            p("userAgent", s128()).doc("Case-insensitive substring of `session.userAgent` (at most 128 characters)."),
            p("notes", s128()).doc("Case-insensitive substring of `notes` (at most 128 characters)."),
            p("requestDetails", s128()).doc("Case-insensitive substring of `requestDetails` (at most 128 characters)."),
            p("resolution", s128()).doc("Case-insensitive substring of `resolution` (at most 128 characters)."),
            p("text", s128()).doc("Case-insensitive substring of any of `user.email`, `user.firstName`, `user.lastName`, `user.phoneNumber`, `notes`, `requestDetails` and `resolution` (at most 128 characters)."),
            p("overdue", Kind::Bool).doc("`true`: only requests not resolved whose `dueDate` has passed; `false`: only the others (Accord extension)."),
            p("include", Kind::Include(INCLUDES)).doc("Comma-separated extras to add to each request: `deadline` adds `dueDate` and `dueDateExtended` (Accord extension). An unknown name gives 400."),
        ]);
        if org {
            v.push(p("projectIds", Kind::UuidList).doc("Only requests of these projects (each one the key can read, 403 otherwise); repeat the key for several."));
        }
        v
    };
    if organization {
        ORG.get_or_init(|| build(true))
    } else {
        PROJECT.get_or_init(|| build(false))
    }
}

/// Renders requests with their data-system names and the asked extensions.
pub async fn render(
    state: &AppState,
    org: Uuid,
    items: &[ComplianceRequest],
    q: &Query,
) -> ApiResult<Vec<PrivacyComplianceRequest>> {
    let mut ids: Vec<Uuid> = items
        .iter()
        .flat_map(|c| c.tasks.iter().map(|t| t.data_system))
        .collect();
    ids.sort();
    ids.dedup();
    let opts = WireOptions {
        include_deadline: q.has_include("deadline"),
        data_systems: state.store.data_system_summaries(org, &ids).await?,
    };
    Ok(items.iter().map(|c| c.to_wire(&opts)).collect())
}

/// The answer of a create: the request for a single object, the batch for an array (§3.3).
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum Created {
    One(Box<PrivacyComplianceRequest>),
    Many(Batch),
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Batch {
    /// The number of requests created: the length of the array sent.
    pub count: usize,
    /// The created requests, in the order of the array sent.
    pub items: Vec<PrivacyComplianceRequest>,
}

pub fn filter_from(q: &Query, org: Uuid, projects: Vec<Uuid>) -> RequestFilter {
    let s = |k: &str| q.str(k).map(str::to_string);
    RequestFilter {
        organization_id: org,
        project_ids: projects,
        start_date: q.date("startDate"),
        end_date: q.date("endDate"),
        id: q
            .str("complianceRequestId")
            .and_then(|v| Uuid::parse_str(v).ok()),
        concord_id: s("concordId"),
        session_id: s("sessionId"),
        request: q
            .list("request")
            .map(<[String]>::to_vec)
            .unwrap_or_default(),
        status: q.list("status").map(<[String]>::to_vec).unwrap_or_default(),
        resolution_status: s("resolutionStatus"),
        domain: s("domain"),
        geography: s("geography"),
        ip_address: s("ipAddress"),
        user_email: s("userEmail"),
        user_agent: s("userAgent"),
        notes: s("notes"),
        request_details: s("requestDetails"),
        resolution: s("resolution"),
        text: s("text"),
        overdue: q.bool("overdue"),
        now: now_ms(),
    }
}

async fn create(
    State(state): State<AppState>,
    scope: ProjectScope<Limited>,
    RawQuery(query): RawQuery,
    JsonBodyText(raw, text): JsonBodyText,
) -> ApiResult<Json<Created>> {
    let org = scope.org;
    let who = &scope.who;
    let q = query::parse(query.as_deref(), &include_params())?;
    compliance::create_body_schema()
        .validate(&raw, "body")
        .map_err(Error::BadRequest)?;
    let project = scope.project()?;
    let single = raw.is_object();
    let mut inputs: Vec<CreateComplianceRequest> = match raw {
        Value::Array(items) => items
            .iter()
            .map(|v| validated(v, compliance::create_schema()))
            .collect::<Result<_, _>>()?,
        v => vec![validated(&v, compliance::create_schema())?],
    };
    let details = compliance::request_details_as_written(&text)?;
    for (input, written) in inputs.iter_mut().zip(details) {
        input.request_details = written;
    }
    let stored = usecase::create(
        state.store.as_ref(),
        state.mail_wake.as_ref(),
        project,
        inputs,
        Origin::ApiKey(who.key_id),
    )
    .await?;
    let mut items = render(&state, org, &stored, &q).await?;
    let answer = match items.pop() {
        Some(one) if single => Created::One(Box::new(one)),
        last => {
            items.extend(last);
            Created::Many(Batch {
                count: items.len(),
                items,
            })
        }
    };
    Ok(created(answer))
}

async fn list(
    State(state): State<AppState>,
    scope: ProjectScope<Viewer>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Page<PrivacyComplianceRequest>>> {
    let org = scope.org;
    let pid = scope.project_id;
    let q = query::parse(raw.as_deref(), list_params(false))?;
    scope.project()?;
    let page = query::Page::from_query(&q, "dateCreated");
    let (total, items) = state
        .store
        .list_compliance_requests(&filter_from(&q, org, vec![pid]), &page)
        .await?;
    let items = render(&state, org, &items, &q).await?;
    Ok(ok(Page::new(&page, total, items)))
}

async fn list_organization(
    State(state): State<AppState>,
    scope: Readable,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Page<PrivacyComplianceRequest>>> {
    let org = scope.org;
    let q = query::parse(raw.as_deref(), list_params(true))?;
    let projects = restrict_to(scope.projects, q.list("projectIds"))?;
    let page = query::Page::from_query(&q, "dateCreated");
    let (total, items) = state
        .store
        .list_compliance_requests(&filter_from(&q, org, projects), &page)
        .await?;
    let items = render(&state, org, &items, &q).await?;
    Ok(ok(Page::new(&page, total, items)))
}

/// Narrows the readable projects to an explicit `projectIds` filter; naming an unreadable
/// project is 403 (§2.3).
pub fn restrict_to(readable: Vec<Uuid>, wanted: Option<&[String]>) -> Result<Vec<Uuid>, Error> {
    let Some(wanted) = wanted else {
        return Ok(readable);
    };
    let mut out = Vec::new();
    for w in wanted {
        let id = Uuid::parse_str(w)
            .map_err(|_| Error::bad("querystring/projectIds must match format \"uuid\""))?;
        if !readable.contains(&id) {
            return Err(Error::forbidden());
        }
        out.push(id);
    }
    Ok(out)
}

async fn get_one(
    State(state): State<AppState>,
    scope: ProjectScope<Viewer>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<PrivacyComplianceRequest>> {
    let org = scope.org;
    let pid = scope.project_id;
    let id = scope.id("complianceRequestId")?;
    let q = query::parse(raw.as_deref(), &include_params())?;
    scope.project()?;
    let cr = state
        .store
        .get_compliance_request(org, pid, id)
        .await?
        .ok_or_else(Error::not_found)?;
    let item = render(&state, org, std::slice::from_ref(&cr), &q)
        .await?
        .remove(0);
    Ok(ok(item))
}

async fn update(
    State(state): State<AppState>,
    scope: ProjectScope<Limited>,
    RawQuery(raw): RawQuery,
    JsonBody(raw_body): JsonBody,
) -> ApiResult<Json<PrivacyComplianceRequest>> {
    let org = scope.org;
    let pid = scope.project_id;
    let who = &scope.who;
    let id = scope.id("complianceRequestId")?;
    let q = query::parse(raw.as_deref(), &include_params())?;
    let patch: PatchComplianceRequest = validated(&raw_body, compliance::patch_schema())?;
    let project = scope.project()?;
    let role = who.project_role(org, pid);
    let regulation = project.regulation();
    let updated = usecase::update(
        state.store.as_ref(),
        state.mail_wake.as_ref(),
        (org, pid, id),
        Actor {
            account_id: Some(who.key_id),
        },
        move |cr| {
            compliance::check_patch_role(cr, &patch, role)?;
            compliance::apply_patch(cr, &patch, &regulation, now_ms())
        },
    )
    .await?
    .ok_or_else(Error::not_found)?;
    let item = render(&state, org, std::slice::from_ref(&updated), &q)
        .await?
        .remove(0);
    Ok(ok(item))
}
