//! `/privacy-v1/organizations/{organizationId}/policies`: the organization's policies
//! (§7.9), their `html` rendered again on every write.
use crate::error::ApiResult;
use crate::extract::{Admin, JsonBody, OrgScope, Viewer};
use crate::respond::{created, ok, Json, Page};
use crate::AppState;
use accord_core::admin::paginate;
use accord_core::policies::{
    self, Policy, PolicyBody, PolicyFilter, PolicyView, POLICY_SORTS, POLICY_STATUSES, POLICY_TYPES,
};
use accord_core::query::{self, p, paging, Kind, Param};
use accord_core::schema::{parse, published, string};
use accord_core::time::now_ms;
use accord_core::Error;
use axum::extract::{RawQuery, State};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Map, Value};
use std::sync::OnceLock;
use uuid::Uuid;

const COLLECTION: &str = "/organizations/{organizationId}/policies";
const ONE: &str = "/organizations/{organizationId}/policies/{policyId}";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(COLLECTION, get(list).post(create))
        .route(ONE, get(get_one).patch(update).delete(delete))
}

/// Query of the policy list (§7.9).
pub fn list_params() -> &'static [Param] {
    static P: OnceLock<Vec<Param>> = OnceLock::new();
    P.get_or_init(|| {
        let mut v = paging(POLICY_SORTS);
        v.extend([
            p("type", Kind::EnumList(POLICY_TYPES))
                .doc("Only policies of these kinds; repeat the key for several."),
            p("status", Kind::EnumList(POLICY_STATUSES))
                .doc("Only policies in these statuses; repeat the key for several."),
            p("name", Kind::Str(string().max(256)))
                .doc("Case-insensitive substring of the policy's name (at most 256 characters)."),
        ]);
        v
    })
}

/// Checks the references of a body (422) and renders the policy's `html`; with
/// `includeCookies`, its cookie table lists the associated projects' trackers as they are
/// at this write (the table is a snapshot: a later tracker change shows at the next write).
async fn prepare(
    state: &AppState,
    org: Uuid,
    b: &PolicyBody,
    p: &mut Policy,
) -> accord_core::Result<()> {
    let projects: Vec<Uuid> = match &b.associated_projects {
        Some(_) => state
            .store
            .list_projects(org)
            .await?
            .iter()
            .map(|p| p.id)
            .collect(),
        None => vec![],
    };
    policies::check_refs(b, org, &projects)?;
    let cookies = if p.include_cookies {
        let trackers = state.store.project_trackers(&p.associated_projects).await?;
        accord_core::trackers::cookie_entries(&trackers)
    } else {
        vec![]
    };
    p.html = policies::render_html(p, &cookies);
    Ok(())
}

async fn list(
    State(state): State<AppState>,
    scope: OrgScope<Viewer>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Page<PolicyView>>> {
    let q = query::parse(raw.as_deref(), list_params())?;
    let filter = PolicyFilter {
        policy_type: q.list("type").map(<[String]>::to_vec),
        status: q.list("status").map(<[String]>::to_vec),
        name: q.str("name").map(str::to_string),
    };
    let all: Vec<Policy> = state
        .store
        .list_policies(scope.org.id)
        .await?
        .into_iter()
        .filter(|p| filter.matches(p))
        .collect();
    let page = query::Page::from_query(&q, "dateCreated");
    let (total, items) = paginate(all, &page, policies::sort_key, |p| p.id);
    let items = items.iter().map(PolicyView::from).collect();
    Ok(ok(Page::new(&page, total, items)))
}

async fn create(
    State(state): State<AppState>,
    scope: OrgScope<Admin>,
    JsonBody(raw): JsonBody,
) -> ApiResult<Json<PolicyView>> {
    Ok(created(create_policy(&state, scope.org.id, &raw).await?))
}

/// Creates a policy of organization `org` from a `POST …/policies` body, its `html`
/// rendered (§7.9). The route and the console use it.
pub async fn create_policy(
    state: &AppState,
    org: Uuid,
    raw: &Value,
) -> accord_core::Result<PolicyView> {
    let b: PolicyBody = parse(raw, policies::create_schema())?;
    let mut p = policies::new_policy(&b, accord_core::ids::new_id(), org, now_ms());
    prepare(state, org, &b, &mut p).await?;
    state.store.create_policy(&p).await?;
    Ok(PolicyView::from(&p))
}

/// Changes policy `id` of organization `org` from a `PATCH …/policies/{id}` body, its
/// `html` rendered again.
pub async fn update_policy(
    state: &AppState,
    org: Uuid,
    id: Uuid,
    raw: &Value,
) -> accord_core::Result<PolicyView> {
    let b: PolicyBody = parse(raw, policies::patch_schema())?;
    let mut p = state
        .store
        .get_policy(org, id)
        .await?
        .ok_or_else(Error::not_found)?;
    policies::apply_patch(&mut p, &b, now_ms());
    prepare(state, org, &b, &mut p).await?;
    state.store.update_policy(&p).await?;
    Ok(PolicyView::from(&p))
}

/// The addressed policy of the organization, or 404.
async fn found<R>(state: &AppState, scope: &OrgScope<R>) -> ApiResult<Policy> {
    Ok(state
        .store
        .get_policy(scope.org.id, scope.id("policyId")?)
        .await?
        .ok_or_else(Error::not_found)?)
}

async fn get_one(
    State(state): State<AppState>,
    scope: OrgScope<Viewer>,
) -> ApiResult<Json<PolicyView>> {
    Ok(ok(PolicyView::from(&found(&state, &scope).await?)))
}

async fn update(
    State(state): State<AppState>,
    scope: OrgScope<Admin>,
    JsonBody(raw): JsonBody,
) -> ApiResult<Json<PolicyView>> {
    let id = scope.id("policyId")?;
    Ok(ok(update_policy(&state, scope.org.id, id, &raw).await?))
}

async fn delete(
    State(state): State<AppState>,
    scope: OrgScope<Admin>,
) -> ApiResult<Json<PolicyView>> {
    let p = found(&state, &scope).await?;
    state.store.delete_policy(p.organization_id, p.id).await?;
    Ok(ok(PolicyView::from(&p)))
}

/// The OpenAPI paths of this resource, for the Privacy API document.
pub fn document(paths: &mut Map<String, Value>) {
    use crate::docs::{op, path_params, query_params};
    let org = &["organizationId"][..];
    let one = &["organizationId", "policyId"][..];
    let std_errs = &[400, 401, 403, 404, 429, 500][..];
    let write_errs = &[400, 401, 403, 404, 413, 415, 422, 429, 500][..];
    let item = published::<PolicyView>();
    let envelope = published::<Page<PolicyView>>();
    let mut list_p = path_params(org);
    list_p.extend(query_params(list_params()));
    let mut post = op(
        "Policies",
        "Create a policy",
        "Creates a policy; `organizationId` must be the organization of the path and `associatedProjects` its projects (422 otherwise). Role: admin or owner.",
        path_params(org),
        Some(policies::create_schema().json_schema()),
        201,
        item.clone(),
        write_errs,
        true,
    );
    let html_rule = "`html` is rendered on every write: an `<article>` with the name as `<h1>`, one `<section data-question-id>` per answer with one `<p>` per non-blank line, and with `includeCookies` a table per category of the associated projects' trackers (name, company, domain, type, expiration; `ignored` trackers left out) as they are at the write; every text HTML-escaped.";
    crate::docs::append_description(&mut post, json!(html_rule));
    let mut patch = op(
        "Policies",
        "Update a policy",
        "Changes a policy; the fields given replace the stored ones. Role: admin or owner.",
        path_params(one),
        Some(policies::patch_schema().json_schema()),
        200,
        item.clone(),
        write_errs,
        true,
    );
    crate::docs::append_description(&mut patch, json!(html_rule));
    paths.insert(
        COLLECTION.into(),
        json!({
            "get": op("Policies", "Policies of the organization", "Lists the organization's policies. Role: viewer or above.", list_p, None, 200, envelope, std_errs, true),
            "post": post,
        }),
    );
    paths.insert(
        ONE.into(),
        json!({
            "get": op("Policies", "Get one policy", "Answers one policy of the organization. Role: viewer or above.", path_params(one), None, 200, item.clone(), std_errs, true),
            "patch": patch,
            "delete": op("Policies", "Delete a policy", "Deletes a policy and answers it. Role: admin or owner.", path_params(one), None, 200, item, std_errs, true),
        }),
    );
}
