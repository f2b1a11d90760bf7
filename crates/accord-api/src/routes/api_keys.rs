//! `/privacy-v1/organizations/{organizationId}/api-keys[/{apiKeyId}]`: list, create, read,
//! PATCH and revoke API keys, with the grant and owner rules of §2.3 and §7.4.
use crate::error::ApiResult;
use crate::extract::{org_scope, read_json, Admin, Auth, OrgScope, PathParams, PRIVACY_BODY_LIMIT};
use crate::respond::{created, ok, Json, Page};
use crate::AppState;
use accord_core::admin::{
    self, check_grant_shape, check_key_change, contains_ci, paginate, parse_grants, ApiKeyBody,
    ApiKeyView, Grant, KeyGrants, PermissionView, SortKey, API_KEY_SORTS, LAST_OWNER,
};
use accord_core::auth::{digest, generate_api_key, masked, Permission, Role};
use accord_core::query::{self, p, paging, Kind, Param, Query};
use accord_core::schema::{parse, string};
use accord_core::store::{ApiKey, NewApiKey, Store};
use accord_core::{Error, Result};
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::Router;
use std::collections::{BTreeSet, HashMap};
use std::sync::OnceLock;
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/organizations/{organizationId}/api-keys",
            get(list).post(create),
        )
        .route(
            "/organizations/{organizationId}/api-keys/{apiKeyId}",
            get(get_one).patch(update).delete(delete),
        )
}

/// Query of the API-key list (§7.4).
pub fn list_params() -> &'static [Param] {
    static S: OnceLock<Vec<Param>> = OnceLock::new();
    S.get_or_init(|| {
        let mut v = paging(API_KEY_SORTS);
        v.extend([
            p("apiKey", Kind::Str(string().max(64))).doc("A whole secret finds its key; anything shorter lists the keys whose displayed prefix starts with it (at most 64 characters)."),
            p("name", Kind::Str(string().max(64))).doc("Case-insensitive substring of the key's name (at most 64 characters)."),
            p("projectName", Kind::Str(string().max(256))).doc("Only keys with a permission on a project whose name contains this, case-insensitively (at most 256 characters)."),
            p("role", Kind::EnumList(Role::NAMES)).doc("Only keys whose organization-level role is one of these; repeat the key for several."),
            p("projectIds", Kind::UuidList).doc("Only keys with a permission on one of these projects; repeat the key for several."),
        ]);
        v
    })
}

/// Names of the organizations and projects that permission entries point at.
#[derive(Default)]
pub struct Names {
    organizations: HashMap<Uuid, String>,
    projects: HashMap<Uuid, String>,
}

impl Names {
    /// Loads the names for every entry of `keys`: one lookup per organization named.
    pub async fn load(store: &dyn Store, keys: &[ApiKey]) -> Result<Names> {
        let mut names = Names::default();
        let orgs: BTreeSet<Uuid> = keys
            .iter()
            .flat_map(|k| k.permissions.iter().map(|p| p.organization_id))
            .collect();
        for org in orgs {
            if let Some(o) = store.get_organization(org).await? {
                names.organizations.insert(org, o.name);
            }
            if keys
                .iter()
                .flat_map(|k| &k.permissions)
                .any(|p| p.organization_id == org && p.project_id.is_some())
            {
                for p in store.list_projects(org).await? {
                    names.projects.insert(p.id, p.name);
                }
            }
        }
        Ok(names)
    }

    fn project(&self, id: Uuid) -> Option<&str> {
        self.projects.get(&id).map(String::as_str)
    }
}

/// The ApiKey object (§7.4) with the masked secret and named permissions.
pub fn view(key: &ApiKey, names: &Names) -> ApiKeyView {
    let permissions = key
        .permissions
        .iter()
        .map(|p| PermissionView {
            id: p.id,
            organization_id: p.organization_id,
            organization_name: names
                .organizations
                .get(&p.organization_id)
                .cloned()
                .unwrap_or_default(),
            role: p.role.as_str(),
            project_id: p.project_id,
            project_name: p
                .project_id
                .and_then(|pid| names.project(pid))
                .map(str::to_string),
        })
        .collect();
    ApiKeyView {
        id: key.id,
        api_key: masked(&key.prefix),
        organization_id: key.organization_id,
        name: key.name.clone(),
        role: key.role.as_str(),
        permissions,
        date_created: key.date_created,
        date_updated: key.date_updated,
    }
}

/// The ApiKey object of one key (also used by `accord api-key create --json`).
pub async fn view_one(key: &ApiKey, store: &dyn Store) -> Result<ApiKeyView> {
    let names = Names::load(store, std::slice::from_ref(key)).await?;
    Ok(view(key, &names))
}

fn grants_of(key: &ApiKey) -> KeyGrants {
    KeyGrants {
        role: key.role,
        grants: key
            .permissions
            .iter()
            .map(|p| (p.organization_id, p.project_id, p.role))
            .collect(),
    }
}

/// The 422 rules on a permission set: shape, then every project inside its organization.
async fn check_grants(state: &AppState, home: Uuid, grants: &[Grant]) -> Result<()> {
    check_grant_shape(home, grants)?;
    for (i, (org, project, _)) in grants.iter().enumerate() {
        if let Some(pid) = project {
            if state.store.get_project(*org, *pid).await?.is_none() {
                return Err(Error::unprocessable(format!(
                    "permissions/{i}/projectId not found in organization {org}"
                )));
            }
        }
    }
    Ok(())
}

/// The last-owner rule (§2.3): every organization `key` stops being owner of must keep
/// another owner key.
async fn keep_an_owner(
    state: &AppState,
    key: &ApiKey,
    before: &KeyGrants,
    after: &KeyGrants,
) -> Result<()> {
    let home = key.organization_id;
    for org in before.owner_of(home).difference(&after.owner_of(home)) {
        let owners = state.store.organization_owner_keys(*org).await?;
        if owners.iter().all(|k| *k == key.id) {
            return Err(Error::unprocessable(LAST_OWNER));
        }
    }
    Ok(())
}

/// Parses the body of a create or PATCH.
async fn read_input(
    headers: &HeaderMap,
    body: Body,
    schema: &accord_core::schema::Schema,
) -> Result<(ApiKeyBody, Option<Vec<Grant>>)> {
    let raw = read_json(headers, body, PRIVACY_BODY_LIMIT).await?;
    parse_input(&raw, schema)
}

/// Validates the JSON body of a create or PATCH.
fn parse_input(
    raw: &serde_json::Value,
    schema: &accord_core::schema::Schema,
) -> Result<(ApiKeyBody, Option<Vec<Grant>>)> {
    let input: ApiKeyBody = parse(raw, schema)?;
    let grants = input.permissions.as_deref().map(parse_grants).transpose()?;
    Ok((input, grants))
}

fn matches(key: &ApiKey, q: &Query, by_secret: Option<Uuid>, names: &Names) -> bool {
    let by_key = q.str("apiKey").is_none_or(|v| match by_secret {
        Some(id) => key.id == id,
        None => key.prefix.starts_with(v.trim_end_matches('*')),
    });
    let project_named = q.str("projectName").is_none_or(|n| {
        key.permissions.iter().any(|p| {
            p.project_id
                .and_then(|pid| names.project(pid))
                .is_some_and(|name| contains_ci(name, n))
        })
    });
    let on_projects = q.list("projectIds").is_none_or(|ids| {
        key.permissions.iter().any(|p| {
            p.project_id
                .is_some_and(|pid| ids.contains(&pid.to_string()))
        })
    });
    by_key
        && project_named
        && on_projects
        && q.str("name").is_none_or(|n| contains_ci(&key.name, n))
        && q.list("role")
            .is_none_or(|r| r.iter().any(|r| r == key.role.as_str()))
}

fn sort_key(key: &ApiKey, sort: &str) -> SortKey {
    match sort {
        "name" => SortKey::Text(key.name.clone()),
        "role" => SortKey::Text(key.role.as_str().into()),
        "dateUpdated" => SortKey::Int(key.date_updated),
        _ => SortKey::Int(key.date_created),
    }
}

async fn list(
    State(state): State<AppState>,
    scope: OrgScope<Admin>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Page<ApiKeyView>>> {
    let org = scope.org.id;
    let q = query::parse(raw.as_deref(), list_params())?;
    let keys = state.store.list_api_keys(org).await?;
    let names = Names::load(state.store.as_ref(), &keys).await?;
    // A full secret finds its key by hash; anything else is a display-prefix search.
    let by_secret = match q.str("apiKey") {
        Some(v) => state
            .store
            .principal_by_digest(&digest(v.trim()))
            .await?
            .filter(|p| p.home_organization_id == org)
            .map(|p| p.key_id),
        None => None,
    };
    let keys: Vec<ApiKey> = keys
        .into_iter()
        .filter(|k| matches(k, &q, by_secret, &names))
        .collect();
    let page = query::Page::from_query(&q, "dateCreated");
    let (total, items) = paginate(keys, &page, sort_key, |k| k.id);
    let items = items.iter().map(|k| view(k, &names)).collect();
    Ok(ok(Page::new(&page, total, items)))
}

async fn create(
    State(state): State<AppState>,
    scope: OrgScope<Admin>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<ApiKeyView>> {
    let raw = read_json(&headers, body, PRIVACY_BODY_LIMIT).await?;
    Ok(created(
        create_key(&state, &scope.who, scope.org.id, &raw).await?,
    ))
}

/// The keys of organization `org`, oldest first, as the API lists them (secrets masked).
pub async fn list_all(state: &AppState, org: Uuid) -> Result<Vec<ApiKeyView>> {
    let mut keys = state.store.list_api_keys(org).await?;
    keys.sort_by_key(|k| (k.date_created, k.id));
    let names = Names::load(state.store.as_ref(), &keys).await?;
    Ok(keys.iter().map(|k| view(k, &names)).collect())
}

/// Creates a key of organization `org` from a `POST …/api-keys` body on behalf of `who`
/// (the grant rules of §2.3): the answer carries the whole secret, the only time it is
/// shown. The route and the console use it.
pub async fn create_key(
    state: &AppState,
    who: &accord_core::auth::Principal,
    org: Uuid,
    raw: &serde_json::Value,
) -> Result<ApiKeyView> {
    let (input, grants) = parse_input(raw, admin::api_key_create_schema())?;
    let grants = grants.unwrap_or_default();
    let default_role = if grants.is_empty() {
        Role::Viewer
    } else {
        Role::None
    };
    let after = KeyGrants {
        role: input
            .role
            .as_deref()
            .and_then(Role::parse)
            .unwrap_or(default_role),
        grants,
    };
    check_key_change(who, org, None, &after)?;
    check_grants(state, org, &after.grants).await?;
    let secret = generate_api_key();
    let key = state
        .store
        .create_api_key(NewApiKey {
            organization_id: org,
            name: input.name.unwrap_or_default(),
            role: after.role,
            digest: secret.digest,
            prefix: secret.prefix,
            permissions: after.grants,
        })
        .await?;
    let mut body = view_one(&key, state.store.as_ref()).await?;
    body.api_key = secret.secret;
    Ok(body)
}

async fn load_key(state: &AppState, org: Uuid, id: Uuid) -> Result<ApiKey> {
    state
        .store
        .get_api_key(org, id)
        .await?
        .ok_or_else(Error::not_found)
}

async fn get_one(
    State(state): State<AppState>,
    scope: OrgScope<Admin>,
) -> ApiResult<Json<ApiKeyView>> {
    let org = scope.org.id;
    let id = scope.id("apiKeyId")?;
    let key = load_key(&state, org, id).await?;
    Ok(ok(view_one(&key, state.store.as_ref()).await?))
}

async fn update(
    State(state): State<AppState>,
    scope: OrgScope<Admin>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<ApiKeyView>> {
    let org = scope.org.id;
    let who = &scope.who;
    let id = scope.id("apiKeyId")?;
    let (input, grants) = read_input(&headers, body, admin::api_key_patch_schema()).await?;
    let mut key = load_key(&state, org, id).await?;
    let before = grants_of(&key);
    let after = KeyGrants {
        role: input
            .role
            .as_deref()
            .and_then(Role::parse)
            .unwrap_or(before.role),
        grants: grants.clone().unwrap_or_else(|| before.grants.clone()),
    };
    check_key_change(who, org, Some(&before), &after)?;
    if grants.is_some() {
        check_grants(&state, org, &after.grants).await?;
    }
    keep_an_owner(&state, &key, &before, &after).await?;
    if let Some(name) = input.name {
        key.name = name;
    }
    key.role = after.role;
    key.permissions = after
        .grants
        .iter()
        .map(|(o, p, r)| Permission {
            id: Uuid::nil(),
            organization_id: *o,
            project_id: *p,
            role: *r,
        })
        .collect();
    state.store.update_api_key(&key).await?;
    let key = load_key(&state, org, id).await?;
    Ok(ok(view_one(&key, state.store.as_ref()).await?))
}

/// A key may always revoke itself, whatever its role (§7.4): the role is checked here, not
/// by a scope extractor.
async fn delete(
    State(state): State<AppState>,
    Auth(who): Auth,
    path: PathParams,
) -> ApiResult<Json<ApiKeyView>> {
    path.validate_ids()?;
    let org = path.uuid("organizationId")?;
    let id = path.uuid("apiKeyId")?;
    Ok(ok(revoke_key(&state, &who, org, id).await?))
}

/// Revokes key `id` of organization `org` on behalf of `who`: a key may always revoke
/// itself; otherwise admin or owner, with the grant and last-owner rules (§2.3, §7.4).
pub async fn revoke_key(
    state: &AppState,
    who: &accord_core::auth::Principal,
    org: Uuid,
    id: Uuid,
) -> Result<ApiKeyView> {
    let itself = id == who.key_id && org == who.home_organization_id;
    if !itself {
        org_scope(state, who, org, Role::Admin).await?;
    }
    let key = load_key(state, org, id).await?;
    let before = grants_of(&key);
    let after = KeyGrants::nothing();
    if !itself {
        check_key_change(who, org, Some(&before), &after)?;
    }
    keep_an_owner(state, &key, &before, &after).await?;
    let body = view_one(&key, state.store.as_ref()).await?;
    state.store.delete_api_key(org, id).await?;
    Ok(body)
}
