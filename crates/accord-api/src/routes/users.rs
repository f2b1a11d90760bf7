//! `/privacy-v1/organizations/{organizationId}/users[/{userId}]`: the organization's
//! membership records (§7.5), administered by admins and owners, with the owner rule of
//! §2.3: only an owner creates, changes or removes a user who holds the `owner` role.
use crate::error::ApiResult;
use crate::extract::{Admin, JsonBody, OrgScope};
use crate::respond::{created, ok, Json, Page};
use crate::AppState;
use accord_core::admin::{contains_ci, paginate, SortKey};
use accord_core::auth::{Principal, Role};
use accord_core::query::{self, p, paging, Kind, Param, Query};
use accord_core::schema::{parse, published, string};
use accord_core::store::Organization;
use accord_core::time::now_ms;
use accord_core::users::{
    self, apply_patch, check_user_change, new_user, parse_permissions, User, UserBody, UserView,
    USER_SORTS, USER_STATUSES,
};
use accord_core::{Error, Result};
use axum::extract::{RawQuery, State};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::OnceLock;
use uuid::Uuid;

const COLLECTION: &str = "/organizations/{organizationId}/users";
const ONE: &str = "/organizations/{organizationId}/users/{userId}";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(COLLECTION, get(list).post(create))
        .route(ONE, get(get_one).patch(update).delete(delete))
}

/// Query of the user list (§7.5).
pub fn list_params() -> &'static [Param] {
    static P: OnceLock<Vec<Param>> = OnceLock::new();
    P.get_or_init(|| {
        let mut v = paging(USER_SORTS);
        v.extend([
            p("email", Kind::Str(string().max(256))).doc("Case-insensitive substring of the user's email (at most 256 characters)."),
            p("status", Kind::EnumList(USER_STATUSES)).doc("Only users in these statuses (`pending`, `active`, `disabled`); repeat the key for several."),
        ]);
        v
    })
}

/// Names of the organization's projects, for `permissions[].projectName`.
struct Projects(HashMap<Uuid, String>);

impl Projects {
    async fn load(state: &AppState, org: Uuid) -> Result<Projects> {
        Ok(Projects(
            state
                .store
                .list_projects(org)
                .await?
                .into_iter()
                .map(|p| (p.id, p.name))
                .collect(),
        ))
    }

    fn view(&self, u: &User, org: &Organization) -> UserView {
        UserView::new(u, &org.name, |pid| {
            self.0.get(&pid).cloned().unwrap_or_default()
        })
    }

    /// The 422 rule that needs the projects: every entry names one of them.
    fn check(&self, permissions: &[(Uuid, Role)], org: Uuid) -> Result<()> {
        match permissions
            .iter()
            .position(|(pid, _)| !self.0.contains_key(pid))
        {
            Some(i) => Err(Error::unprocessable(format!(
                "permissions/{i}/projectId not found in organization {org}"
            ))),
            None => Ok(()),
        }
    }
}

fn matches(u: &User, q: &Query) -> bool {
    q.str("email").is_none_or(|e| contains_ci(&u.email, e))
        && q.list("status").is_none_or(|s| s.contains(&u.status))
}

fn sort_key(u: &User, sort: &str) -> Option<SortKey> {
    match sort {
        "email" => Some(SortKey::Text(u.email.to_lowercase())),
        "name" => u.name.clone().map(SortKey::Text),
        _ => Some(SortKey::Int(u.date_created)),
    }
}

async fn list(
    State(state): State<AppState>,
    scope: OrgScope<Admin>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Page<UserView>>> {
    let org = &scope.org;
    let q = query::parse(raw.as_deref(), list_params())?;
    let found: Vec<User> = state
        .store
        .list_users(org.id)
        .await?
        .into_iter()
        .filter(|u| matches(u, &q))
        .collect();
    let page = query::Page::from_query(&q, "dateCreated");
    let (total, items) = paginate(found, &page, sort_key, |u| u.id);
    let projects = Projects::load(&state, org.id).await?;
    let items = items.iter().map(|u| projects.view(u, org)).collect();
    Ok(ok(Page::new(&page, total, items)))
}

async fn load(state: &AppState, org: Uuid, id: Uuid) -> Result<User> {
    state
        .store
        .get_user(org, id)
        .await?
        .ok_or_else(Error::not_found)
}

async fn get_one(
    State(state): State<AppState>,
    scope: OrgScope<Admin>,
) -> ApiResult<Json<UserView>> {
    let org = &scope.org;
    let u = load(&state, org.id, scope.id("userId")?).await?;
    let projects = Projects::load(&state, org.id).await?;
    Ok(ok(projects.view(&u, org)))
}

async fn create(
    State(state): State<AppState>,
    scope: OrgScope<Admin>,
    JsonBody(raw): JsonBody,
) -> ApiResult<Json<UserView>> {
    Ok(created(
        create_user(&state, &scope.who, &scope.org, &raw).await?,
    ))
}

/// The users of `org`, sorted by email, as the API answers them. For the console's list.
pub async fn list_all(state: &AppState, org: &Organization) -> Result<Vec<UserView>> {
    let mut found = state.store.list_users(org.id).await?;
    found.sort_by_key(|u| u.email.to_lowercase());
    let projects = Projects::load(state, org.id).await?;
    Ok(found.iter().map(|u| projects.view(u, org)).collect())
}

/// Adds (invites) a user to `org` from a `POST …/users` body on behalf of `who` (the
/// owner rule of §2.3), queueing the invitation email. The route and the console use it.
pub async fn create_user(
    state: &AppState,
    who: &Principal,
    org: &Organization,
    raw: &Value,
) -> Result<UserView> {
    let body: UserBody = parse(raw, users::user_create_schema())?;
    let role = body
        .role
        .as_deref()
        .and_then(Role::parse)
        .unwrap_or(Role::Viewer);
    // Entry roles are validated by the schema; duplicates are a 422, decided after the 403.
    let entries: Vec<(Uuid, Role)> = body
        .permissions
        .iter()
        .flatten()
        .map(|p| (p.project_id, Role::parse(&p.role).unwrap_or(Role::None)))
        .collect();
    check_user_change(who, org.id, None, Some((role, entries.as_slice())))?;
    let permissions = parse_permissions(body.permissions.as_deref().unwrap_or_default())?;
    let projects = Projects::load(state, org.id).await?;
    projects.check(&permissions, org.id)?;
    let now = now_ms();
    let user = new_user(org.id, body, permissions, now);
    let user = accord_core::usecases::console::invite(
        state.store.as_ref(),
        state.mail_wake.as_ref(),
        org,
        &user,
        now,
    )
    .await?;
    Ok(projects.view(&user, org))
}

async fn update(
    State(state): State<AppState>,
    scope: OrgScope<Admin>,
    JsonBody(raw): JsonBody,
) -> ApiResult<Json<UserView>> {
    let id = scope.id("userId")?;
    Ok(ok(
        update_user(&state, &scope.who, &scope.org, id, &raw).await?
    ))
}

/// Changes user `id` of `org` from a `PATCH …/users/{id}` body on behalf of `who`.
pub async fn update_user(
    state: &AppState,
    who: &Principal,
    org: &Organization,
    id: Uuid,
    raw: &Value,
) -> Result<UserView> {
    let body: UserBody = parse(raw, users::user_patch_schema())?;
    let before = load(state, org.id, id).await?;
    let role = body
        .role
        .as_deref()
        .and_then(Role::parse)
        .unwrap_or(before.role);
    let entries: Vec<(Uuid, Role)> = match &body.permissions {
        Some(list) => list
            .iter()
            .map(|p| (p.project_id, Role::parse(&p.role).unwrap_or(Role::None)))
            .collect(),
        None => before.permissions.clone(),
    };
    check_user_change(who, org.id, Some(&before), Some((role, entries.as_slice())))?;
    let permissions = body
        .permissions
        .as_deref()
        .map(parse_permissions)
        .transpose()?;
    let projects = Projects::load(state, org.id).await?;
    if let Some(p) = &permissions {
        projects.check(p, org.id)?;
    }
    let mut user = before;
    apply_patch(&mut user, body, permissions);
    user.date_updated = now_ms().max(user.date_updated);
    state.store.update_user(&user).await?;
    Ok(projects.view(&user, org))
}

async fn delete(
    State(state): State<AppState>,
    scope: OrgScope<Admin>,
) -> ApiResult<Json<UserView>> {
    let id = scope.id("userId")?;
    Ok(ok(remove_user(&state, &scope.who, &scope.org, id).await?))
}

/// Removes user `id` from `org` on behalf of `who`, answering it as it was.
pub async fn remove_user(
    state: &AppState,
    who: &Principal,
    org: &Organization,
    id: Uuid,
) -> Result<UserView> {
    let user = load(state, org.id, id).await?;
    check_user_change(who, org.id, Some(&user), None)?;
    let projects = Projects::load(state, org.id).await?;
    let body = projects.view(&user, org);
    state.store.delete_user(org.id, user.id).await?;
    Ok(body)
}

/// The paths of this module in the Privacy API document.
pub fn document(paths: &mut serde_json::Map<String, Value>) {
    use crate::docs::{op, path_params, query_params};
    let org = &["organizationId"][..];
    let one = &["organizationId", "userId"][..];
    let std_errs = &[400, 401, 403, 404, 429, 500][..];
    let write_errs = &[400, 401, 403, 404, 413, 415, 422, 429, 500][..];
    let item = published::<UserView>();
    let envelope = published::<Page<UserView>>();
    let mut list_p = path_params(org);
    list_p.extend(query_params(list_params()));
    paths.insert(
        COLLECTION.into(),
        json!({
            "get": op("Users", "Users of the organization", "Lists the organization's users: membership records with roles, which do not authenticate to the Privacy API. Role: admin or owner.", list_p, None, 200, envelope, std_errs, true),
            "post": op("Users", "Add (invite) a user", "Adds a user to the organization, `pending` until activated; users with the same email in any organization share one account (`accountId`). The email is unique in the organization (422). Granting `owner` needs an owner key. Role: admin or owner.", path_params(org), Some(users::user_create_schema().json_schema()), 201, item.clone(), write_errs, true),
        }),
    );
    paths.insert(
        ONE.into(),
        json!({
            "get": op("Users", "Get one user", "Answers one user of the organization. Role: admin or owner.", path_params(one), None, 200, item.clone(), std_errs, true),
            "patch": op("Users", "Update a user", "Changes a user's name, notes, status, role, permissions (replaced as a whole) or account details; the email cannot change. Anything involving the `owner` role needs an owner key. Role: admin or owner.", path_params(one), Some(users::user_patch_schema().json_schema()), 200, item.clone(), write_errs, true),
            "delete": op("Users", "Remove a user", "Removes a user from the organization and answers it. Removing an owner needs an owner key. Role: admin or owner.", path_params(one), None, 200, item, std_errs, true),
        }),
    );
}
