//! The console's Settings section of an organization (§7): its users and invitations, and
//! its API keys. Every change builds the Privacy API's body and goes through the same
//! function as its route (`routes::users::{create_user, update_user, remove_user}`,
//! `routes::api_keys::{create_key, revoke_key}`), with the signed-in User as the caller, so
//! the role and owner rules (§2.3) and the 422 messages are the API's. Like those routes,
//! the pages are an admin's or owner's: other members see why and nothing else.
use super::org::{field_of, forbidden, Member, OrgNav};
use super::{internal, page, see_other, Browser};
use crate::routes::api_keys::{self, create_key, revoke_key};
use crate::routes::users::{self, create_user, remove_user, update_user};
use crate::AppState;
use accord_core::admin::ApiKeyView;
use accord_core::auth::Role;
use accord_core::users::{UserView, USER_STATUSES};
use accord_core::Error;
use askama::Template;
use axum::extract::{Path, RawForm, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Map, Value};
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/o/{org}/settings", get(index))
        .route("/o/{org}/settings/users", post(invite))
        .route(
            "/o/{org}/settings/users/{id}",
            get(user_page).post(change_user),
        )
        .route(
            "/o/{org}/settings/api-keys",
            get(keys_page).post(change_keys),
        )
}

/// The roles a form offers, highest first.
const ROLES: [&str; 5] = ["owner", "admin", "limited", "viewer", "none"];

/// A form sent as `application/x-www-form-urlencoded`, with repeated keys.
struct Fields(Vec<(String, String)>);

impl Fields {
    fn parse(raw: &[u8]) -> Fields {
        Fields(
            url::form_urlencoded::parse(raw)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }
    fn one(&self, k: &str) -> String {
        self.0
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }
}

/// The member sending a form: signed in, the session's token, admin or owner (as
/// `OrgScope<Admin>` of the API's settings routes).
async fn writer(
    state: &AppState,
    browser: &Browser,
    org: Uuid,
    csrf: &str,
) -> Result<Member, Response> {
    if browser.session.is_none() {
        return Err(see_other("/console/sign-in"));
    }
    if let Some(r) = browser.refuse_session(csrf) {
        return Err(r);
    }
    let m = Member::of(state, browser, org).await?;
    m.require(Role::Admin)?;
    Ok(m)
}

/// A refused change: its status and message. 403 keeps the API's status with words a User
/// understands (the owner rule of §2.3).
fn refusal(e: Error) -> Result<(StatusCode, String), Response> {
    match e {
        Error::Unprocessable(m) | Error::BadRequest(m) => Ok((StatusCode::UNPROCESSABLE_ENTITY, m)),
        Error::Forbidden(_) => Ok((
            StatusCode::FORBIDDEN,
            "Only an owner can give, change or take away the owner role, or remove an owner."
                .into(),
        )),
        Error::NotFound(_) => Err(forbidden()),
        e => Err(internal(e)),
    }
}

// ---------------------------------------------------------------------------------------
// Users and invitations

struct UserRow {
    href: String,
    email: String,
    name: String,
    role: &'static str,
    status: String,
    projects: String,
}

/// What the invitation form holds.
#[derive(Default)]
struct InviteForm {
    email: String,
    name: String,
    role: String,
}

#[derive(Template)]
#[template(path = "console/settings.html")]
struct IndexPage {
    nav: OrgNav,
    can_admin: bool,
    users: Vec<UserRow>,
    typed: InviteForm,
    roles: &'static [&'static str],
    error_field: String,
    error: Option<String>,
    notice: Option<String>,
}

fn user_row(org: Uuid, u: &UserView) -> UserRow {
    UserRow {
        href: format!("/console/o/{org}/settings/users/{}", u.id),
        email: u.email.clone(),
        name: u.name.clone().unwrap_or_default(),
        role: u.role,
        status: u.status.clone(),
        projects: u
            .permissions
            .iter()
            .map(|p| format!("{}: {}", p.project_name, p.role))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

async fn render_index(
    state: &AppState,
    m: &Member,
    status: StatusCode,
    typed: InviteForm,
    error: Option<String>,
    notice: Option<String>,
) -> Response {
    let can_admin = m.org_role() >= Role::Admin;
    let users = if can_admin {
        match users::list_all(state, &m.org).await {
            Ok(u) => u.iter().map(|u| user_row(m.org.id, u)).collect(),
            Err(e) => return internal(e),
        }
    } else {
        vec![]
    };
    let p = IndexPage {
        nav: m.nav("settings"),
        can_admin,
        users,
        typed,
        roles: &ROLES,
        error_field: error
            .as_deref()
            .map(|e| {
                let f = field_of(e);
                f.strip_prefix("body/").unwrap_or(f).to_string()
            })
            .unwrap_or_default(),
        error,
        notice,
    };
    page(status, &p)
}

async fn index(State(state): State<AppState>, browser: Browser, Path(org): Path<Uuid>) -> Response {
    let m = match Member::of(&state, &browser, org).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let typed = InviteForm {
        role: "viewer".into(),
        ..InviteForm::default()
    };
    render_index(&state, &m, StatusCode::OK, typed, None, None).await
}

/// The invitation form: `POST …/users` with the email, name and role typed.
async fn invite(
    State(state): State<AppState>,
    browser: Browser,
    Path(org): Path<Uuid>,
    RawForm(raw): RawForm,
) -> Response {
    let f = Fields::parse(&raw);
    let m = match writer(&state, &browser, org, &f.one("csrf")).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let typed = InviteForm {
        email: f.one("email"),
        name: f.one("name"),
        role: f.one("role"),
    };
    let mut body = Map::new();
    body.insert("email".into(), json!(typed.email.trim()));
    body.insert("role".into(), json!(typed.role));
    if !typed.name.trim().is_empty() {
        body.insert("name".into(), json!(typed.name.trim()));
    }
    match create_user(&state, &m.who, &m.org, &Value::Object(body)).await {
        Ok(u) => {
            let notice = format!(
                "{} is invited as {}: the invitation email is on its way.",
                u.email, u.role
            );
            let typed = InviteForm {
                role: "viewer".into(),
                ..InviteForm::default()
            };
            render_index(&state, &m, StatusCode::OK, typed, None, Some(notice)).await
        }
        Err(e) => match refusal(e) {
            Ok((status, message)) => {
                render_index(&state, &m, status, typed, Some(message), None).await
            }
            Err(r) => r,
        },
    }
}

struct ProjectRole {
    id: Uuid,
    name: String,
    /// The user's role there, `""` when the organization role applies.
    role: String,
}

#[derive(Template)]
#[template(path = "console/settings_user.html")]
struct UserPage {
    nav: OrgNav,
    action: String,
    user: UserRow,
    role: String,
    status: String,
    projects: Vec<ProjectRole>,
    roles: &'static [&'static str],
    statuses: &'static [&'static str],
    error: Option<String>,
    notice: Option<String>,
}

async fn render_user(
    state: &AppState,
    m: &Member,
    id: Uuid,
    status: StatusCode,
    error: Option<String>,
    notice: Option<String>,
) -> Response {
    let all = match users::list_all(state, &m.org).await {
        Ok(u) => u,
        Err(e) => return internal(e),
    };
    let Some(u) = all.into_iter().find(|u| u.id == id) else {
        return forbidden();
    };
    let projects = match state.store.list_projects(m.org.id).await {
        Ok(p) => p,
        Err(e) => return internal(e),
    };
    let p = UserPage {
        nav: m.nav("settings"),
        action: format!("/console/o/{}/settings/users/{id}", m.org.id),
        role: u.role.to_string(),
        status: u.status.clone(),
        projects: projects
            .into_iter()
            .map(|p| ProjectRole {
                role: u
                    .permissions
                    .iter()
                    .find(|x| x.project_id == p.id)
                    .map(|x| x.role.to_string())
                    .unwrap_or_default(),
                id: p.id,
                name: p.name,
            })
            .collect(),
        user: user_row(m.org.id, &u),
        roles: &ROLES,
        statuses: USER_STATUSES,
        error,
        notice,
    };
    page(status, &p)
}

async fn user_page(
    State(state): State<AppState>,
    browser: Browser,
    Path((org, id)): Path<(Uuid, Uuid)>,
) -> Response {
    let m = match Member::of(&state, &browser, org).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    if let Err(r) = m.require(Role::Admin) {
        return r;
    }
    render_user(&state, &m, id, StatusCode::OK, None, None).await
}

/// A user's page: `action` save (role, status and per-project roles, as a PATCH) or
/// remove.
async fn change_user(
    State(state): State<AppState>,
    browser: Browser,
    Path((org, id)): Path<(Uuid, Uuid)>,
    RawForm(raw): RawForm,
) -> Response {
    let f = Fields::parse(&raw);
    let m = match writer(&state, &browser, org, &f.one("csrf")).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    if f.one("action") == "remove" {
        return match remove_user(&state, &m.who, &m.org, id).await {
            Ok(u) => {
                let typed = InviteForm {
                    role: "viewer".into(),
                    ..InviteForm::default()
                };
                let notice = format!("{} was removed from the organization.", u.email);
                render_index(&state, &m, StatusCode::OK, typed, None, Some(notice)).await
            }
            Err(e) => match refusal(e) {
                Ok((status, message)) => {
                    render_user(&state, &m, id, status, Some(message), None).await
                }
                Err(r) => r,
            },
        };
    }
    let projects = match state.store.list_projects(org).await {
        Ok(p) => p,
        Err(e) => return internal(e),
    };
    let permissions: Vec<Value> = projects
        .iter()
        .filter_map(|p| {
            let role = f.one(&format!("project-{}", p.id));
            (!role.is_empty()).then(|| json!({"projectId": p.id, "role": role}))
        })
        .collect();
    let body = json!({
        "role": f.one("role"),
        "status": f.one("status"),
        "permissions": permissions,
    });
    match update_user(&state, &m.who, &m.org, id, &body).await {
        Ok(_) => render_user(&state, &m, id, StatusCode::OK, None, Some("Saved.".into())).await,
        Err(e) => match refusal(e) {
            Ok((status, message)) => render_user(&state, &m, id, status, Some(message), None).await,
            Err(r) => r,
        },
    }
}

// ---------------------------------------------------------------------------------------
// API keys

struct KeyRow {
    id: Uuid,
    name: String,
    masked: String,
    role: &'static str,
    created: String,
}

#[derive(Template)]
#[template(path = "console/settings_keys.html")]
struct KeysPage {
    nav: OrgNav,
    keys: Vec<KeyRow>,
    roles: &'static [&'static str],
    name: String,
    role: String,
    /// The secret of the key just created: on this answer only.
    secret: Option<String>,
    error_field: String,
    error: Option<String>,
    notice: Option<String>,
}

async fn render_keys(
    state: &AppState,
    m: &Member,
    status: StatusCode,
    typed: (String, String),
    secret: Option<String>,
    error: Option<String>,
    notice: Option<String>,
) -> Response {
    let keys: Vec<ApiKeyView> = match api_keys::list_all(state, m.org.id).await {
        Ok(k) => k,
        Err(e) => return internal(e),
    };
    let p = KeysPage {
        nav: m.nav("settings"),
        keys: keys
            .into_iter()
            .map(|k| KeyRow {
                id: k.id,
                name: k.name,
                masked: k.api_key,
                role: k.role,
                created: super::requests::fmt_date(k.date_created),
            })
            .collect(),
        roles: &ROLES,
        name: typed.0,
        role: typed.1,
        secret,
        error_field: error
            .as_deref()
            .map(|e| {
                let f = field_of(e);
                f.strip_prefix("body/").unwrap_or(f).to_string()
            })
            .unwrap_or_default(),
        error,
        notice,
    };
    page(status, &p)
}

async fn keys_page(
    State(state): State<AppState>,
    browser: Browser,
    Path(org): Path<Uuid>,
) -> Response {
    let m = match Member::of(&state, &browser, org).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    if let Err(r) = m.require(Role::Admin) {
        return r;
    }
    let typed = (String::new(), "viewer".to_string());
    render_keys(&state, &m, StatusCode::OK, typed, None, None, None).await
}

/// The API keys page's forms: `action` create (name and role) or revoke (`id`).
async fn change_keys(
    State(state): State<AppState>,
    browser: Browser,
    Path(org): Path<Uuid>,
    RawForm(raw): RawForm,
) -> Response {
    let f = Fields::parse(&raw);
    let m = match writer(&state, &browser, org, &f.one("csrf")).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let fresh = (String::new(), "viewer".to_string());
    if f.one("action") == "revoke" {
        let Ok(id) = Uuid::parse_str(&f.one("id")) else {
            return forbidden();
        };
        return match revoke_key(&state, &m.who, org, id).await {
            Ok(k) => {
                let notice = format!("The key {} ({}) was revoked.", k.name, k.api_key);
                render_keys(&state, &m, StatusCode::OK, fresh, None, None, Some(notice)).await
            }
            Err(e) => match refusal(e) {
                Ok((status, message)) => {
                    render_keys(&state, &m, status, fresh, None, Some(message), None).await
                }
                Err(r) => r,
            },
        };
    }
    let typed = (f.one("name"), f.one("role"));
    let body = json!({"name": typed.0, "role": typed.1});
    match create_key(&state, &m.who, org, &body).await {
        Ok(k) => {
            let notice = format!("The key {} was created.", k.name);
            render_keys(
                &state,
                &m,
                StatusCode::OK,
                fresh,
                Some(k.api_key),
                None,
                Some(notice),
            )
            .await
        }
        Err(e) => match refusal(e) {
            Ok((status, message)) => {
                render_keys(&state, &m, status, typed, None, Some(message), None).await
            }
            Err(r) => r,
        },
    }
}
