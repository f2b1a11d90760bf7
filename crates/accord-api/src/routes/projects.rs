//! `/privacy-v1/organizations/{organizationId}/projects[/{projectId}]`: list, create, read,
//! PATCH and archive projects, and rotate their identify secret (§7.3).
use crate::error::ApiResult;
use crate::extract::{
    read_json, read_limited, Admin, JsonBody, OrgScope, ProjectScope, Readable, Viewer,
    PRIVACY_BODY_LIMIT,
};
use crate::respond::{created, ok, Json, Page};
use crate::AppState;
use accord_core::admin::{
    self, clean_emails, contains_ci, deep_merge, non_empty, paginate, CreateProject,
    DataSystemSummary, IdentifySecret, OrganizationRef, PatchProject, ProjectDataSystem,
    ProjectFlags, ProjectView, SendFromView, SortKey, PROJECT_SORTS, PROJECT_STATUSES,
};
use accord_core::auth::generate_secret;
use accord_core::query::{self, p, paging, Kind, Param};
use accord_core::schema::{parse, string, Object};
use accord_core::store::{NewProject, Organization, Project};
use accord_core::time::now_ms;
use accord_core::Error;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap};
use axum::routing::{get, post};
use axum::Router;
use serde_json::Value;
use std::sync::OnceLock;
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/organizations/{organizationId}/projects",
            get(list).post(create),
        )
        .route(
            "/organizations/{organizationId}/projects/{projectId}",
            get(get_one).patch(update).delete(delete),
        )
        .route(
            "/organizations/{organizationId}/projects/{projectId}/identify-secret",
            post(identify_secret),
        )
}

/// Query of the project list (§7.3).
pub fn list_params() -> &'static [Param] {
    static S: OnceLock<Vec<Param>> = OnceLock::new();
    S.get_or_init(|| {
        let mut v = paging(PROJECT_SORTS);
        v.extend([
            p("name", Kind::Str(string().max(64))).doc("Case-insensitive substring of the project's name (at most 64 characters)."),
            p("sendFromEmail", Kind::Str(string().max(64))).doc("Case-insensitive substring of the project's send-from address (at most 64 characters)."),
            p("contactEmails", Kind::Str(string().max(64))).doc("Case-insensitive substring of any of the project's contact emails (at most 64 characters)."),
            p("status", Kind::EnumList(PROJECT_STATUSES)).doc("Only projects in these statuses (`active`, `archived`); repeat the key for several."),
        ]);
        v
    })
}

/// The address a project sends from, for the `sendFromEmail` list filter.
fn sender_address<'a>(state: &'a AppState, p: &'a Project) -> &'a str {
    p.send_from
        .as_ref()
        .map(|s| s.email.as_str())
        .unwrap_or(state.config.smtp_from.as_str())
}

/// The Project object (§7.3); `data_systems` is `None` where the object is embedded in an
/// Organization, which omits `dataSystems`.
pub fn view(
    state: &AppState,
    org: &Organization,
    p: &Project,
    data_systems: Option<&[ProjectDataSystem]>,
) -> ProjectView {
    // The server sender for "default" (§7.3, §7.6).
    let send_from_email = match &p.send_from {
        Some(s) => SendFromView {
            id: p.send_from_email_id.clone(),
            email: s.email.clone(),
            name: s.name.clone().unwrap_or_default(),
        },
        None => SendFromView {
            id: "default".into(),
            email: state.config.smtp_from.clone(),
            name: "Accord".into(),
        },
    };
    ProjectView {
        id: p.id,
        name: p.name.clone(),
        slug: p.slug.clone(),
        organization_id: p.organization_id,
        organization: OrganizationRef {
            id: org.id,
            name: org.name.clone(),
            slug: org.slug.clone(),
            status: "active",
        },
        project_type: "website",
        status: p.status.clone(),
        status_flags: ProjectFlags {
            is_active: p.is_active(),
            is_test: false,
        },
        contact_emails: p.contact_emails.clone(),
        send_from_email_id: p.send_from_email_id.clone(),
        send_from_email,
        settings: p.settings.clone(),
        date_created: p.date_created,
        date_updated: p.date_updated,
        contact_email: p.contact_emails.first().cloned(),
        data_systems: data_systems.map(|d| d.iter().map(DataSystemSummary::from).collect()),
    }
}

/// One project with its linked data systems.
async fn render(state: &AppState, org: &Organization, p: &Project) -> ApiResult<ProjectView> {
    let mut systems = state.store.project_data_systems(org.id, &[p.id]).await?;
    let systems = systems.remove(&p.id).unwrap_or_default();
    Ok(view(state, org, p, Some(&systems)))
}

async fn organization(state: &AppState, org: Uuid) -> ApiResult<Organization> {
    Ok(state
        .store
        .get_organization(org)
        .await?
        .ok_or_else(Error::forbidden)?)
}

fn sort_key(p: &Project, sort: &str) -> SortKey {
    match sort {
        "name" => SortKey::Text(p.name.clone()),
        "status" => SortKey::Text(p.status.clone()),
        "dateUpdated" => SortKey::Int(p.date_updated),
        _ => SortKey::Int(p.date_created),
    }
}

async fn list(
    State(state): State<AppState>,
    scope: Readable,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Page<ProjectView>>> {
    let (org_id, readable, _who) = (scope.org, scope.projects, scope.who);
    let q = query::parse(raw.as_deref(), list_params())?;
    let org = organization(&state, org_id).await?;
    let projects: Vec<Project> = state
        .store
        .list_projects(org_id)
        .await?
        .into_iter()
        .filter(|p| {
            readable.contains(&p.id)
                && q.str("name").is_none_or(|n| contains_ci(&p.name, n))
                && q.str("sendFromEmail")
                    .is_none_or(|e| contains_ci(sender_address(&state, p), e))
                && q.str("contactEmails")
                    .is_none_or(|e| p.contact_emails.iter().any(|c| contains_ci(c, e)))
                && q.list("status").is_none_or(|s| s.contains(&p.status))
        })
        .collect();
    let page = query::Page::from_query(&q, "dateCreated");
    let (total, items) = paginate(projects, &page, sort_key, |p| p.id);
    let ids: Vec<Uuid> = items.iter().map(|p| p.id).collect();
    let mut systems = state.store.project_data_systems(org_id, &ids).await?;
    let items = items
        .iter()
        .map(|p| {
            let linked = systems.remove(&p.id).unwrap_or_default();
            view(&state, &org, p, Some(&linked))
        })
        .collect();
    Ok(ok(Page::new(&page, total, items)))
}

async fn create(
    State(state): State<AppState>,
    scope: OrgScope<Admin>,
    JsonBody(raw): JsonBody,
) -> ApiResult<Json<ProjectView>> {
    let org = scope.org.clone();
    let project = create_from(&state, org.id, &raw).await?;
    Ok(created(view(&state, &org, &project, Some(&[]))))
}

/// Creates a project of `org_id` from a create body (§7.3) with its Regions: the Privacy
/// API's create and the console's project form.
pub async fn create_from(state: &AppState, org_id: Uuid, raw: &Value) -> ApiResult<Project> {
    let input: CreateProject = parse(raw, admin::project_create_schema())?;
    let regions = crate::routes::regions::plan_project_regions(
        input.region_template.as_ref(),
        &input.additional_regions,
    )?;
    let mut domains: Vec<String> = input
        .domains
        .into_iter()
        .filter_map(|d| non_empty(Some(d)).map(|d| d.to_lowercase()))
        .collect();
    domains.sort();
    domains.dedup();
    Ok(state
        .store
        .create_project(
            org_id,
            NewProject {
                name: input.name,
                domains,
                contact_emails: clean_emails(input.contact_emails),
                privacy_policy_url: non_empty(input.privacy_policy_url),
                terms_of_service_url: non_empty(input.terms_of_service_url),
                settings: input.settings,
                regions,
            },
        )
        .await?)
}

async fn get_one(
    State(state): State<AppState>,
    scope: ProjectScope<Viewer>,
) -> ApiResult<Json<ProjectView>> {
    let project = scope.project()?;
    let org = organization(&state, scope.org).await?;
    Ok(ok(render(&state, &org, project).await?))
}

async fn update(
    State(state): State<AppState>,
    scope: ProjectScope<Admin>,
    JsonBody(raw): JsonBody,
) -> ApiResult<Json<ProjectView>> {
    let org_id = scope.org;
    let pid = scope.project_id;
    let patch: PatchProject = parse(&raw, admin::project_patch_schema())?;
    let data_systems = patch.data_system_ids;
    let mut project = scope.project()?.clone();
    if let Some(ids) = &data_systems {
        let known = state.store.data_system_summaries(org_id, ids).await?;
        if let Some(i) = ids.iter().position(|id| !known.contains_key(id)) {
            return Err(Error::unprocessable(format!(
                "dataSystemIds/{i} not found in this organization"
            ))
            .into());
        }
    }
    if let Some(email) = patch.send_from_email_id {
        // "default" is the server sender; anything else must be an address of the
        // organization (§7.6).
        match non_empty(Some(email)).as_deref() {
            None | Some("default") => {
                project.send_from_email_id = "default".into();
                project.send_from = None;
            }
            Some(id) => {
                let found = match uuid::Uuid::parse_str(id) {
                    Ok(id) => state.store.get_send_from_email(org_id, id).await?,
                    Err(_) => None,
                };
                let Some(e) = found else {
                    return Err(Error::unprocessable(
                        "sendFromEmailId not found in this organization",
                    )
                    .into());
                };
                project.send_from_email_id = e.id.to_string();
                project.send_from = Some(accord_core::store::SendFrom {
                    email: e.email,
                    name: e.name,
                });
            }
        }
    }
    if let Some(name) = patch.name {
        project.name = name;
    }
    if let Some(emails) = patch.contact_emails {
        project.contact_emails = clean_emails(emails);
    }
    if let Some(status) = patch.status {
        project.status = status;
    }
    if let Some(settings) = &patch.settings {
        deep_merge(&mut project.settings, settings);
    }
    project.date_updated = now_ms();
    state.store.update_project(&project).await?;
    if let Some(ids) = &data_systems {
        let mut ids = ids.clone();
        ids.sort();
        ids.dedup();
        state.store.set_project_data_systems(pid, &ids).await?;
    }
    let org = organization(&state, org_id).await?;
    Ok(ok(render(&state, &org, &project).await?))
}

/// Archives the project; its data is kept (§7.1).
async fn delete(
    State(state): State<AppState>,
    scope: ProjectScope<Admin>,
) -> ApiResult<Json<ProjectView>> {
    let org_id = scope.org;
    let mut project = scope.project()?.clone();
    if project.is_active() {
        project.status = "archived".into();
        project.date_updated = now_ms();
        state.store.update_project(&project).await?;
    }
    let org = organization(&state, org_id).await?;
    Ok(ok(render(&state, &org, &project).await?))
}

/// Reads the optional body of a POST that declares no field: nothing at all, or `{}`.
pub(crate) async fn optional_empty_body(headers: &HeaderMap, body: Body) -> Result<(), Error> {
    if !headers.contains_key(header::CONTENT_TYPE) {
        let bytes = read_limited(body, PRIVACY_BODY_LIMIT).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        return Err(Error::UnsupportedMediaType(
            "Content-Type must be application/json".into(),
        ));
    }
    let raw = read_json(headers, body, PRIVACY_BODY_LIMIT).await?;
    identify_secret_body()
        .validate(&raw, "body")
        .map_err(Error::BadRequest)
}

/// The optional body of the identify-secret rotation: no field at all.
pub fn identify_secret_body() -> Object {
    Object::default()
}

async fn identify_secret(
    State(state): State<AppState>,
    scope: ProjectScope<Admin>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<IdentifySecret>> {
    let pid = scope.project_id;
    optional_empty_body(&headers, body).await?;
    scope.project()?;
    let secret = generate_secret("is_");
    state.store.set_identify_secret(pid, &secret.secret).await?;
    Ok(created(IdentifySecret {
        identify_secret: secret.secret,
    }))
}
