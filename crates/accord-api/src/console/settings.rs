//! The console's Settings section of an organization (§7): its users and invitations, and
//! its API keys. Every change builds the Privacy API's body and goes through the same
//! function as its route (`routes::users::{create_user, update_user, remove_user}`,
//! `routes::api_keys::{create_key, revoke_key}`), with the signed-in User as the caller, so
//! the role and owner rules (§2.3) and the 422 messages are the API's. Like those routes,
//! the pages are an admin's or owner's: other members see why and nothing else.
use super::org::{field_of, forbidden, Admin, Fields, Member, OrgNav, Reading, Viewer, Writing};
use super::{internal, page, see_other, Browser};
use crate::routes::api_keys::{self, create_key, revoke_key};
use crate::routes::emails::{self, create_email, delete_email, EmailView};
use crate::routes::policies::{create_policy, update_policy};
use crate::routes::users::{self, create_user, remove_user, update_user};
use crate::AppState;
use accord_core::admin::ApiKeyView;
use accord_core::auth::Role;
use accord_core::users::{UserView, USER_STATUSES};
use accord_core::Error;
use askama::Template;
use axum::extract::{Path, State};
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
        .route(
            "/o/{org}/settings/emails",
            get(emails_page).post(change_emails),
        )
        .route(
            "/o/{org}/settings/policies",
            get(policies_page).post(create_policy_form),
        )
        .route(
            "/o/{org}/settings/policies/{id}",
            get(policy_page).post(change_policy),
        )
}

/// The roles a form offers, highest first.
const ROLES: [&str; 5] = ["owner", "admin", "limited", "viewer", "none"];

/// A refused change: as every form's ([`super::org::refusal`]), but the owner rule of §2.3
/// keeps the API's 403 with words a User understands.
fn refusal(e: Error) -> Result<(StatusCode, String), Response> {
    match e {
        Error::Forbidden(_) => Ok((
            StatusCode::FORBIDDEN,
            "Only an owner can give, change or take away the owner role, or remove an owner."
                .into(),
        )),
        e => super::org::refusal(e),
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
        error_field: error.as_deref().map(field_of).unwrap_or_default().into(),
        error,
        notice,
    };
    page(status, &p)
}

async fn index(State(state): State<AppState>, browser: Browser, Path(org): Path<Uuid>) -> Response {
    let m = or_answer!(Member::of(&state, &browser, org).await);
    let typed = InviteForm {
        role: "viewer".into(),
        ..InviteForm::default()
    };
    render_index(&state, &m, StatusCode::OK, typed, None, None).await
}

/// The invitation form: `POST …/users` with the email, name and role typed.
async fn invite(State(state): State<AppState>, Writing(m, f, _): Writing<Admin>) -> Response {
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
    Path((_, id)): Path<(Uuid, Uuid)>,
    Reading(m, _): Reading<Admin>,
) -> Response {
    render_user(&state, &m, id, StatusCode::OK, None, None).await
}

/// A user's page: `action` save (role, status and per-project roles, as a PATCH) or
/// remove.
async fn change_user(
    State(state): State<AppState>,
    Path((_, id)): Path<(Uuid, Uuid)>,
    Writing(m, f, _): Writing<Admin>,
) -> Response {
    let org = m.org.id;
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
        error_field: error.as_deref().map(field_of).unwrap_or_default().into(),
        error,
        notice,
    };
    page(status, &p)
}

async fn keys_page(State(state): State<AppState>, Reading(m, _): Reading<Admin>) -> Response {
    let typed = (String::new(), "viewer".to_string());
    render_keys(&state, &m, StatusCode::OK, typed, None, None, None).await
}

/// The API keys page's forms: `action` create (name and role) or revoke (`id`).
async fn change_keys(State(state): State<AppState>, Writing(m, f, _): Writing<Admin>) -> Response {
    let org = m.org.id;
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

// ---------------------------------------------------------------------------------------
// Send-from emails (§7.6): every member reads them; admins and owners add and delete.

/// Rows of one page of the send-from emails.
const EMAILS_PAGE: i64 = 100;

#[derive(Template)]
#[template(path = "console/settings_emails.html")]
struct EmailsPage {
    nav: OrgNav,
    can_admin: bool,
    emails: Vec<EmailView>,
    total: i64,
    email: String,
    name: String,
    error_field: String,
    error: Option<String>,
    notice: Option<String>,
}

async fn render_emails(
    state: &AppState,
    m: &Member,
    status: StatusCode,
    typed: (String, String),
    error: Option<String>,
    notice: Option<String>,
) -> Response {
    let page_q = accord_core::query::Page {
        offset: 0,
        limit: EMAILS_PAGE,
        sort: "email".into(),
        desc: false,
    };
    let (total, emails) = match emails::list_page(state, m.org.id, &page_q).await {
        Ok(e) => e,
        Err(e) => return internal(e),
    };
    let p = EmailsPage {
        nav: m.nav("settings"),
        can_admin: m.org_role() >= Role::Admin,
        emails,
        total,
        email: typed.0,
        name: typed.1,
        error_field: error.as_deref().map(field_of).unwrap_or_default().into(),
        error,
        notice,
    };
    page(status, &p)
}

async fn emails_page(State(state): State<AppState>, Reading(m, _): Reading<Viewer>) -> Response {
    render_emails(&state, &m, StatusCode::OK, Default::default(), None, None).await
}

/// The emails page's forms: `action` add (email, name) or delete (`id`).
async fn change_emails(
    State(state): State<AppState>,
    Writing(m, f, _): Writing<Admin>,
) -> Response {
    let org = m.org.id;
    let typed = (f.one("email"), f.one("name"));
    let done = if f.one("action") == "delete" {
        match Uuid::parse_str(&f.one("id")) {
            Ok(id) => delete_email(&state, org, id)
                .await
                .map(|e| format!("{} was deleted.", e.email)),
            Err(_) => Err(Error::not_found()),
        }
    } else {
        let mut body = Map::new();
        body.insert("email".into(), json!(typed.0.trim()));
        if !typed.1.trim().is_empty() {
            body.insert("name".into(), json!(typed.1));
        }
        create_email(&state, org, &Value::Object(body))
            .await
            .map(|e| format!("{} was added; it is verified.", e.email))
    };
    match done {
        Ok(notice) => {
            render_emails(
                &state,
                &m,
                StatusCode::OK,
                Default::default(),
                None,
                Some(notice),
            )
            .await
        }
        Err(e) => match refusal(e) {
            Ok((status, message)) => {
                render_emails(&state, &m, status, typed, Some(message), None).await
            }
            Err(r) => r,
        },
    }
}

// ---------------------------------------------------------------------------------------
// Policies (§7.9): every member reads them; admins and owners create and edit.

struct PolicyRow {
    href: String,
    name: String,
    kind: String,
    status: String,
}

/// One questionnaire answer of the policy form.
struct AnswerField {
    question_id: String,
    answer: String,
}

/// What the policy form holds.
struct PolicyForm {
    kind: String,
    name: String,
    status: String,
    description: String,
    answers: Vec<AnswerField>,
    projects: Vec<(Uuid, String, bool)>,
    include_cookies: bool,
}

impl PolicyForm {
    fn from_fields(f: &Fields, projects: &[(Uuid, String)]) -> PolicyForm {
        let chosen = f.all("associatedProjects");
        let mut answers: Vec<AnswerField> = f
            .all("questionId")
            .into_iter()
            .zip(f.all("answer"))
            .filter(|(q, a)| !(q.trim().is_empty() && a.trim().is_empty()))
            .map(|(question_id, answer)| AnswerField {
                question_id,
                answer,
            })
            .collect();
        answers.push(AnswerField {
            question_id: String::new(),
            answer: String::new(),
        });
        PolicyForm {
            kind: f.one("type"),
            name: f.one("name"),
            status: f.one("status"),
            description: f.one("description"),
            projects: projects
                .iter()
                .map(|(id, n)| (*id, n.clone(), chosen.contains(&id.to_string())))
                .collect(),
            include_cookies: f.one("includeCookies") == "true",
            answers,
        }
    }

    /// The Privacy API body (§7.9); the last, blank answer pair is the form's spare one.
    fn body(&self, org: Uuid) -> Value {
        let answers: Vec<Value> = self
            .answers
            .iter()
            .filter(|a| !(a.question_id.is_empty() && a.answer.is_empty()))
            .map(|a| json!({"questionId": a.question_id, "answer": a.answer}))
            .collect();
        let mut b = json!({
            "type": self.kind,
            "name": self.name,
            "status": self.status,
            "organizationId": org,
            "answers": answers,
            "associatedProjects": self.projects.iter().filter(|p| p.2).map(|p| p.0).collect::<Vec<_>>(),
            "includeCookies": self.include_cookies,
        });
        if !self.description.trim().is_empty() {
            b["description"] = json!(self.description);
        }
        b
    }
}

#[derive(Template)]
#[template(path = "console/settings_policies.html")]
struct PoliciesPage {
    nav: OrgNav,
    can_admin: bool,
    policies: Vec<PolicyRow>,
    form: PolicyForm,
    form_action: String,
    button: &'static str,
    kinds: &'static [&'static str],
    statuses: &'static [&'static str],
    error: Option<String>,
    notice: Option<String>,
}

async fn project_names(state: &AppState, org: Uuid) -> Result<Vec<(Uuid, String)>, Response> {
    state
        .store
        .list_projects(org)
        .await
        .map(|ps| ps.into_iter().map(|p| (p.id, p.name)).collect())
        .map_err(internal)
}

fn blank_policy(projects: &[(Uuid, String)]) -> PolicyForm {
    PolicyForm {
        kind: "privacyPolicy".into(),
        name: String::new(),
        status: "draft".into(),
        description: String::new(),
        answers: vec![AnswerField {
            question_id: "introduction".into(),
            answer: String::new(),
        }],
        projects: projects
            .iter()
            .map(|(i, n)| (*i, n.clone(), false))
            .collect(),
        include_cookies: false,
    }
}

async fn render_policies(
    state: &AppState,
    m: &Member,
    status: StatusCode,
    form: Option<PolicyForm>,
    error: Option<String>,
    notice: Option<String>,
) -> Response {
    let mut all = match state.store.list_policies(m.org.id).await {
        Ok(p) => p,
        Err(e) => return internal(e),
    };
    all.sort_by(|a, b| a.name.cmp(&b.name));
    let projects = or_answer!(project_names(state, m.org.id).await);
    let p = PoliciesPage {
        nav: m.nav("settings"),
        can_admin: m.org_role() >= Role::Admin,
        policies: all
            .iter()
            .map(|p| PolicyRow {
                href: format!("/console/o/{}/settings/policies/{}", m.org.id, p.id),
                name: p.name.clone(),
                kind: p.policy_type.clone(),
                status: p.status.clone(),
            })
            .collect(),
        form: form.unwrap_or_else(|| blank_policy(&projects)),
        form_action: format!("/console/o/{}/settings/policies", m.org.id),
        button: "Create policy",
        kinds: accord_core::policies::POLICY_TYPES,
        statuses: accord_core::policies::POLICY_STATUSES,
        error,
        notice,
    };
    page(status, &p)
}

async fn policies_page(State(state): State<AppState>, Reading(m, _): Reading<Viewer>) -> Response {
    render_policies(&state, &m, StatusCode::OK, None, None, None).await
}

async fn create_policy_form(
    State(state): State<AppState>,
    Writing(m, f, _): Writing<Admin>,
) -> Response {
    let org = m.org.id;
    let projects = or_answer!(project_names(&state, org).await);
    let form = PolicyForm::from_fields(&f, &projects);
    match create_policy(&state, org, &form.body(org)).await {
        Ok(p) => see_other(&format!("/console/o/{org}/settings/policies/{}", p.id)),
        Err(e) => match refusal(e) {
            Ok((status, message)) => {
                render_policies(&state, &m, status, Some(form), Some(message), None).await
            }
            Err(r) => r,
        },
    }
}

#[derive(Template)]
#[template(path = "console/settings_policy.html")]
struct PolicyPage {
    nav: OrgNav,
    can_admin: bool,
    title: String,
    /// The policy's `html` as the server rendered it at its last write.
    html: String,
    form: PolicyForm,
    form_action: String,
    button: &'static str,
    kinds: &'static [&'static str],
    statuses: &'static [&'static str],
    error: Option<String>,
    notice: Option<String>,
}

async fn render_policy(
    state: &AppState,
    m: &Member,
    id: Uuid,
    status: StatusCode,
    form: Option<PolicyForm>,
    error: Option<String>,
    notice: Option<String>,
) -> Response {
    let p = match state.store.get_policy(m.org.id, id).await {
        Ok(Some(p)) => p,
        Ok(None) => return forbidden(),
        Err(e) => return internal(e),
    };
    let projects = or_answer!(project_names(state, m.org.id).await);
    let form = form.unwrap_or_else(|| {
        let mut answers: Vec<AnswerField> = p
            .answers
            .iter()
            .map(|a| AnswerField {
                question_id: a.question_id.clone(),
                answer: a.answer.clone(),
            })
            .collect();
        answers.push(AnswerField {
            question_id: String::new(),
            answer: String::new(),
        });
        PolicyForm {
            kind: p.policy_type.clone(),
            name: p.name.clone(),
            status: p.status.clone(),
            description: p.description.clone().unwrap_or_default(),
            answers,
            projects: projects
                .iter()
                .map(|(i, n)| (*i, n.clone(), p.associated_projects.contains(i)))
                .collect(),
            include_cookies: p.include_cookies,
        }
    });
    let page_ = PolicyPage {
        nav: m.nav("settings"),
        can_admin: m.org_role() >= Role::Admin,
        title: p.name.clone(),
        html: p.html.clone(),
        form,
        form_action: format!("/console/o/{}/settings/policies/{id}", m.org.id),
        button: "Save policy",
        kinds: accord_core::policies::POLICY_TYPES,
        statuses: accord_core::policies::POLICY_STATUSES,
        error,
        notice,
    };
    page(status, &page_)
}

async fn policy_page(
    State(state): State<AppState>,
    Path((_, id)): Path<(Uuid, Uuid)>,
    Reading(m, _): Reading<Viewer>,
) -> Response {
    render_policy(&state, &m, id, StatusCode::OK, None, None, None).await
}

async fn change_policy(
    State(state): State<AppState>,
    Path((_, id)): Path<(Uuid, Uuid)>,
    Writing(m, f, _): Writing<Admin>,
) -> Response {
    let org = m.org.id;
    let projects = or_answer!(project_names(&state, org).await);
    let form = PolicyForm::from_fields(&f, &projects);
    match update_policy(&state, org, id, &form.body(org)).await {
        Ok(_) => {
            render_policy(
                &state,
                &m,
                id,
                StatusCode::OK,
                None,
                None,
                Some("Saved.".into()),
            )
            .await
        }
        Err(e) => match refusal(e) {
            Ok((status, message)) => {
                render_policy(&state, &m, id, status, Some(form), Some(message), None).await
            }
            Err(r) => r,
        },
    }
}
