//! `/privacy-v1/organizations[/{organizationId}]`: list, create, read, PATCH and delete
//! organizations (§7.2), and their fixed subscription (§7.13).
use crate::error::ApiResult;
use crate::extract::{
    read_json, Admin, Auth, BasicAccess, JsonBody, OrgScope, Owner, Viewer, PRIVACY_BODY_LIMIT,
};
use crate::respond::{created, ok, Json, Page};
use crate::routes::projects;
use crate::AppState;
use accord_core::admin::{
    self, clean_emails, contains_ci, non_empty, paginate, CreateOrganization, OrganizationFlags,
    OrganizationView, PatchOrganization, SortKey, Subscription, ORGANIZATION_SORTS,
    ORGANIZATION_STATUSES,
};
use accord_core::auth::{Principal, Role};
use accord_core::query::{self, p, paging, Kind, Param};
use accord_core::schema::{parse, string};
use accord_core::store::{NewOrganization, NewProject, Organization, Project};
use accord_core::time::now_ms;
use accord_core::Error;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::Router;
use object_store::path::Path as ObjectPath;
use std::sync::OnceLock;
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/organizations", get(list).post(create))
        .route(
            "/organizations/{organizationId}",
            get(get_one).patch(update).delete(delete),
        )
        .route(
            "/organizations/{organizationId}/subscription",
            get(subscription),
        )
}

/// Query of `GET /privacy-v1/organizations` (§7.2).
pub fn list_params() -> &'static [Param] {
    static S: OnceLock<Vec<Param>> = OnceLock::new();
    S.get_or_init(|| {
        let mut v = paging(ORGANIZATION_SORTS);
        v.extend([
            p("name", Kind::Str(string().max(64))).doc("Case-insensitive substring of the organization's name (at most 64 characters)."),
            p("primaryDomain", Kind::Str(string().max(64))).doc("Case-insensitive substring of the organization's primary domain (at most 64 characters)."),
            p("status", Kind::EnumList(ORGANIZATION_STATUSES)).doc("Only organizations in these statuses (`active`); repeat the key for several."),
        ]);
        v
    })
}

/// The Organization object (§7.2) with the projects `who` can read.
pub fn view(
    state: &AppState,
    who: &Principal,
    org: &Organization,
    projects: &[Project],
) -> OrganizationView {
    let readable = projects
        .iter()
        .filter(|p| who.project_role(org.id, p.id) >= Role::Viewer)
        .map(|p| projects::view(state, org, p, None))
        .collect();
    OrganizationView {
        id: org.id,
        name: org.name.clone(),
        slug: org.slug.clone(),
        status: "active",
        status_date: org.date_created,
        status_flags: OrganizationFlags { is_active: true },
        projects: readable,
        subscription: Subscription::self_hosted(),
        date_created: org.date_created,
        date_updated: org.date_updated,
        primary_domain: org.primary_domain.clone(),
        default_project_id: org.default_project_id,
    }
}

fn sort_key(org: &Organization, sort: &str) -> SortKey {
    match sort {
        "name" => SortKey::Text(org.name.clone()),
        "dateUpdated" => SortKey::Int(org.date_updated),
        _ => SortKey::Int(org.date_created),
    }
}

async fn list(
    State(state): State<AppState>,
    Auth(who): Auth,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Page<OrganizationView>>> {
    let q = query::parse(raw.as_deref(), list_params())?;
    let mut ids: Vec<Uuid> = who.permissions.iter().map(|p| p.organization_id).collect();
    ids.push(who.home_organization_id);
    ids.sort();
    ids.dedup();
    let mut found = Vec::new();
    for org in state.store.list_organizations(&ids).await? {
        let matches = q.str("name").is_none_or(|n| contains_ci(&org.name, n))
            && q.str("primaryDomain").is_none_or(|d| {
                org.primary_domain
                    .as_deref()
                    .is_some_and(|pd| contains_ci(pd, d))
            })
            && q.list("status")
                .is_none_or(|s| s.iter().any(|s| s == "active"));
        if !matches {
            continue;
        }
        let projects = state.store.list_projects(org.id).await?;
        let project_ids: Vec<Uuid> = projects.iter().map(|p| p.id).collect();
        if who.has_any_access(org.id, &project_ids) {
            found.push((org, projects));
        }
    }
    let page = query::Page::from_query(&q, "dateCreated");
    let (total, items) = paginate(found, &page, |(o, _), s| sort_key(o, s), |(o, _)| o.id);
    let items = items
        .iter()
        .map(|(o, projects)| view(&state, &who, o, projects))
        .collect();
    Ok(ok(Page::new(&page, total, items)))
}

async fn create(
    State(state): State<AppState>,
    Auth(mut who): Auth,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<OrganizationView>> {
    if who.org_role(who.home_organization_id) < Role::Owner {
        return Err(Error::forbidden().into());
    }
    let raw = read_json(&headers, body, PRIVACY_BODY_LIMIT).await?;
    let input: CreateOrganization = parse(&raw, admin::organization_create_schema())?;
    let regions =
        crate::routes::regions::plan_project_regions(input.region_template.as_ref(), &[])?;
    let domain = non_empty(input.primary_domain).map(|d| d.to_lowercase());
    let (org, project) = state
        .store
        .create_organization(NewOrganization {
            name: input.name,
            slug: non_empty(input.organization_slug),
            primary_domain: domain.clone(),
            project: NewProject {
                name: "Default".into(),
                domains: domain.into_iter().collect(),
                contact_emails: clean_emails(input.contact_emails),
                privacy_policy_url: non_empty(input.privacy_policy_url),
                terms_of_service_url: non_empty(input.terms_of_service_url),
                settings: None,
                regions,
            },
        })
        .await?;
    let granted = state
        .store
        .add_api_key_permission(who.key_id, org.id, None, Role::Owner)
        .await;
    let permission = match granted {
        Ok(p) => p,
        Err(e) => {
            // Without its owner the organization would be unreachable: take it back.
            let _ = state.store.delete_organization(org.id).await;
            return Err(e.into());
        }
    };
    who.permissions.push(permission);
    Ok(created(view(&state, &who, &org, &[project])))
}

async fn get_one(
    State(state): State<AppState>,
    access: BasicAccess,
) -> ApiResult<Json<OrganizationView>> {
    Ok(ok(view(&state, &access.who, &access.org, &access.projects)))
}

async fn update(
    State(state): State<AppState>,
    scope: OrgScope<Admin>,
    JsonBody(raw): JsonBody,
) -> ApiResult<Json<OrganizationView>> {
    let id = scope.org.id;
    let who = &scope.who;
    let mut org = scope.org.clone();
    let patch: PatchOrganization = parse(&raw, admin::organization_patch_schema())?;
    if let Some(pid) = patch.default_project_id {
        if state.store.get_project(id, pid).await?.is_none() {
            return Err(
                Error::unprocessable("defaultProjectId not found in this organization").into(),
            );
        }
        org.default_project_id = Some(pid);
    }
    if let Some(name) = patch.name {
        org.name = name;
    }
    if let Some(domain) = patch.primary_domain {
        org.primary_domain = non_empty(Some(domain)).map(|d| d.to_lowercase());
    }
    org.date_updated = now_ms();
    state.store.update_organization(&org).await?;
    let projects = state.store.list_projects(id).await?;
    Ok(ok(view(&state, who, &org, &projects)))
}

async fn delete(
    State(state): State<AppState>,
    scope: OrgScope<Owner>,
) -> ApiResult<Json<OrganizationView>> {
    let id = scope.org.id;
    let who = &scope.who;
    let org = scope.org.clone();
    let projects = state.store.list_projects(id).await?;
    let body = view(&state, who, &org, &projects);
    let files = state.store.delete_organization(id).await?;
    for key in files {
        if let Err(e) = state.files.delete(&ObjectPath::from(key.as_str())).await {
            tracing::warn!(error = %e, key, "could not delete a file of a deleted organization");
        }
    }
    Ok(ok(body))
}

async fn subscription(
    State(_state): State<AppState>,
    _scope: OrgScope<Viewer>,
) -> ApiResult<Json<Subscription>> {
    Ok(ok(Subscription::self_hosted()))
}
