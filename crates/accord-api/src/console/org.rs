//! What every page under `/console/o/{org}` starts from: the signed-in User's membership of
//! the organization as a principal (its role and per-project roles decide what it reads and
//! changes, with the rules of API keys, §2.3), the organization, and the navigation between
//! the console's sections.
use super::{internal, see_other, Browser};
use crate::AppState;
use accord_core::auth::{Principal, Role};
use accord_core::store::{Organization, Project};
use accord_core::Error;
use axum::extract::{FromRequest, FromRequestParts, Path, RawForm, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::marker::PhantomData;
use uuid::Uuid;

/// The console's sections of an organization, in the order of its navigation.
pub const SECTIONS: [(&str, &str); 5] = [
    ("requests", "Requests"),
    ("consent", "Consent"),
    ("data-map", "Data map"),
    ("site", "Site setup"),
    ("settings", "Settings"),
];

/// The navigation of an organization's pages (`templates/console/org_nav.html`).
pub struct OrgNav {
    pub org_id: Uuid,
    pub org_name: String,
    pub email: String,
    pub csrf: String,
    /// The path segment of the section shown (one of [`SECTIONS`]).
    pub current: &'static str,
}

impl OrgNav {
    pub fn sections(&self) -> &'static [(&'static str, &'static str)] {
        &SECTIONS
    }
}

/// A signed-in, active member of one organization.
pub struct Member {
    pub who: Principal,
    pub org: Organization,
    /// The signed-in account's email (shown in the navigation).
    pub email: String,
    /// The session's form token.
    pub csrf: String,
}

/// What a form sent to the console is refused with before anything is read: the sign-in
/// page when the browser is not signed in, the refusal of a form without the session's
/// token (`csrf`) otherwise; `None` lets it through.
pub fn refuse_write(browser: &Browser, csrf: &str) -> Option<Response> {
    if browser.session.is_none() {
        return Some(see_other("/console/sign-in"));
    }
    browser.refuse_session(csrf)
}

/// The answer to a URL of an organization the User is not a member of, or of something
/// outside its role and projects: the same for all, so nothing is told about what exists.
pub fn forbidden() -> Response {
    let mut res = (
        StatusCode::FORBIDDEN,
        "You do not have access to this page.",
    )
        .into_response();
    super::secure(res.headers_mut());
    res
}

impl Member {
    /// The member of `org` the browser is signed in as: the sign-in page when it is not
    /// signed in, 403 when it is not an active member.
    pub async fn of(state: &AppState, browser: &Browser, org: Uuid) -> Result<Member, Response> {
        let Some(session) = &browser.session else {
            return Err(see_other("/console/sign-in"));
        };
        let found = async {
            let users = state.store.account_users(session.account_id).await?;
            let Some(u) = users
                .into_iter()
                .find(|u| u.organization_id == org && u.status != "disabled")
            else {
                return Ok(None);
            };
            let Some(o) = state.store.get_organization(org).await? else {
                return Ok(None);
            };
            let email = state
                .store
                .account(session.account_id)
                .await?
                .map(|a| a.email)
                .unwrap_or_default();
            Ok::<_, Error>(Some((u.principal(), o, email)))
        };
        match found.await {
            Ok(Some((who, org, email))) => Ok(Member {
                who,
                org,
                email,
                csrf: session.csrf.clone(),
            }),
            Ok(None) => Err(forbidden()),
            Err(e) => Err(internal(e)),
        }
    }

    /// The member sending a form: the sign-in page when the browser is not signed in, the
    /// refusal of a form without the session's token (`csrf`), then [`Member::of`] with at
    /// least the organization role `need` (the role the Privacy API asks for the same
    /// change; `Role::None` for a member's own settings). Every console POST starts with it
    /// (or with [`Member::writing_project`]).
    pub async fn writing(
        state: &AppState,
        browser: &Browser,
        org: Uuid,
        csrf: &str,
        need: Role,
    ) -> Result<Member, Response> {
        if let Some(r) = refuse_write(browser, csrf) {
            return Err(r);
        }
        Member::at_least(state, browser, org, need).await
    }

    /// [`Member::of`] with at least the organization role `need` (403 below it).
    pub async fn at_least(
        state: &AppState,
        browser: &Browser,
        org: Uuid,
        need: Role,
    ) -> Result<Member, Response> {
        let m = Member::of(state, browser, org).await?;
        m.require(need)?;
        Ok(m)
    }

    /// [`Member::writing`], then `project` of the organization with at least `need`.
    pub async fn writing_project(
        state: &AppState,
        browser: &Browser,
        (org, project): (Uuid, Uuid),
        csrf: &str,
        need: Role,
    ) -> Result<(Member, Project), Response> {
        let m = Member::writing(state, browser, org, csrf, Role::None).await?;
        let p = m.project(state, project, need).await?;
        Ok((m, p))
    }

    /// [`Member::of`], then `project` of the organization with at least `need`.
    pub async fn of_project(
        state: &AppState,
        browser: &Browser,
        (org, project): (Uuid, Uuid),
        need: Role,
    ) -> Result<(Member, Project), Response> {
        let m = Member::of(state, browser, org).await?;
        let p = m.project(state, project, need).await?;
        Ok((m, p))
    }

    /// The member's role in the organization itself.
    pub fn org_role(&self) -> Role {
        self.who.org_role(self.org.id)
    }

    /// The member's role in `project` of this organization.
    pub fn project_role(&self, project: Uuid) -> Role {
        self.who.project_role(self.org.id, project)
    }

    /// 403 unless the member's organization role is at least `need`.
    pub fn require(&self, need: Role) -> Result<(), Response> {
        if self.org_role() >= need {
            Ok(())
        } else {
            Err(forbidden())
        }
    }

    /// `project` of this organization when the member's role in it is at least `need`;
    /// 403 otherwise, and for a project that does not exist.
    pub async fn project(
        &self,
        state: &AppState,
        project: Uuid,
        need: Role,
    ) -> Result<Project, Response> {
        if self.project_role(project) < need {
            return Err(forbidden());
        }
        match state.store.get_project(self.org.id, project).await {
            Ok(Some(p)) => Ok(p),
            Ok(None) => Err(forbidden()),
            Err(e) => Err(internal(e)),
        }
    }

    /// The projects of this organization the member can read (at least viewer), in the
    /// store's order.
    pub async fn readable_projects(&self, state: &AppState) -> Result<Vec<Project>, Response> {
        match state.store.list_projects(self.org.id).await {
            Ok(ps) => Ok(crate::extract::readable(&self.who, self.org.id, ps)),
            Err(e) => Err(internal(e)),
        }
    }

    /// The navigation with `current` (a path segment of [`SECTIONS`]) marked.
    pub fn nav(&self, current: &'static str) -> OrgNav {
        OrgNav {
            org_id: self.org.id,
            org_name: self.org.name.clone(),
            email: self.email.clone(),
            csrf: self.csrf.clone(),
            current,
        }
    }
}

/// The path a contract validation message (§1.5) names: its first word, as the messages
/// begin with the field's path (`name must be …`, `settings.consentBanner.position must …`),
/// without the `body/` or `querystring/` of the schema's location
/// (`body/regions/0 must …` → `regions/0`).
pub fn path_of(message: &str) -> &str {
    let f = message
        .split_whitespace()
        .next()
        .unwrap_or("")
        .trim_end_matches([':', ',']);
    f.strip_prefix("body/")
        .or_else(|| f.strip_prefix("querystring/"))
        .unwrap_or(f)
}

/// The form field a contract validation message names: its [`path_of`] without the index
/// of an array item (`body/dataSystemContacts/0 not found …` → `dataSystemContacts`).
/// Forms show the message next to that field.
pub fn field_of(message: &str) -> &str {
    path_of(message).split('/').next().unwrap_or("")
}

/// A refused change as a form shows it: a body the API's schema refuses (400) or a rule
/// refuses (422) is the form again, answered 422 with the contract's message; a change
/// outside the User's role, or of something that does not exist, is 403 like any other
/// URL outside it (`Err`); another refusal keeps the API's status and message (413, 415,
/// 503, …); a fault is the error page (`Err`).
pub fn refusal(e: impl Into<Error>) -> Result<(StatusCode, String), Response> {
    let e: Error = e.into();
    match e {
        Error::BadRequest(_) | Error::Unprocessable(_) => {
            Ok((StatusCode::UNPROCESSABLE_ENTITY, e.public_message()))
        }
        Error::Forbidden(_) | Error::NotFound(_) => Err(forbidden()),
        Error::Internal(_) => Err(internal(e)),
        e => Ok(api_refusal(&e)),
    }
}

/// The Privacy API's own status and message of a refusal, for the forms that show them
/// as the API answers (a request's files: 400, 404, 413, 415, 503).
pub fn api_refusal(e: &Error) -> (StatusCode, String) {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
    (status, e.public_message())
}

/// The organization role a console page needs, as a type (for [`Reading`] and [`Writing`]).
pub trait Need {
    const ROLE: Role;
}

/// At least a viewer of the organization.
pub struct Viewer;
/// At least an admin of the organization.
pub struct Admin;

impl Need for Viewer {
    const ROLE: Role = Role::Viewer;
}

impl Need for Admin {
    const ROLE: Role = Role::Admin;
}

/// The organization named by the path's `{org}` (400 when it is not a UUID, as `Path`).
async fn org_in_path(parts: &mut Parts, state: &AppState) -> Result<Uuid, Response> {
    let params = Path::<HashMap<String, String>>::from_request_parts(parts, state)
        .await
        .map_err(IntoResponse::into_response)?;
    params
        .get("org")
        .and_then(|o| Uuid::parse_str(o).ok())
        .ok_or_else(|| (StatusCode::BAD_REQUEST, "Invalid URL: org is not a UUID").into_response())
}

/// A page of the organization in the path read by a member with at least `N::ROLE`
/// ([`Member::at_least`]: the sign-in redirect, or 403).
pub struct Reading<N>(pub Member, pub PhantomData<N>);

impl<N: Need> FromRequestParts<AppState> for Reading<N> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let browser = Browser::from_request_parts(parts, state).await?;
        let org = org_in_path(parts, state).await?;
        let m = Member::at_least(state, &browser, org, N::ROLE).await?;
        Ok(Reading(m, PhantomData))
    }
}

/// A form posted to the organization in the path by a member with at least `N::ROLE`
/// ([`Member::writing`]: the form's token checked first), with the form's fields.
pub struct Writing<N>(pub Member, pub Fields, pub PhantomData<N>);

impl<N: Need> FromRequest<AppState> for Writing<N> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let browser = Browser::from_request_parts(&mut parts, state).await?;
        let org = org_in_path(&mut parts, state).await?;
        let req = Request::from_parts(parts, body);
        let RawForm(raw) = RawForm::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let f = Fields::parse(&raw);
        let m = Member::writing(state, &browser, org, f.csrf(), N::ROLE).await?;
        Ok(Writing(m, f, PhantomData))
    }
}

/// A form sent as `application/x-www-form-urlencoded` (or a query string), repeated keys
/// (checkboxes, multiple selects) kept in order.
pub struct Fields(Vec<(String, String)>);

impl Fields {
    pub fn parse(raw: &[u8]) -> Fields {
        Fields(
            url::form_urlencoded::parse(raw)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The query string of a GET (none is an empty form).
    pub fn query(raw: Option<&str>) -> Fields {
        Fields::parse(raw.unwrap_or("").as_bytes())
    }

    /// The value of field `k`, when sent (the first, for a repeated key).
    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }

    /// The value of field `k`; empty when not sent.
    pub fn one(&self, k: &str) -> String {
        self.get(k).unwrap_or_default().to_string()
    }

    /// Every value of field `k`, in the order sent.
    pub fn all(&self, k: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Whether field `k` was sent (a ticked box).
    pub fn has(&self, k: &str) -> bool {
        self.get(k).is_some()
    }

    /// The form's token.
    pub fn csrf(&self) -> &str {
        self.get("csrf").unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_field_of_a_message_is_its_first_word() {
        assert_eq!(super::field_of("name must not be empty"), "name");
        assert_eq!(
            super::field_of("settings.consentBanner.position must be one of …"),
            "settings.consentBanner.position"
        );
        assert_eq!(super::field_of(""), "");
        assert_eq!(super::field_of("body/name must not be empty"), "name");
        assert_eq!(
            super::field_of("body/dataSystemContacts/0 not found"),
            "dataSystemContacts"
        );
        assert_eq!(
            super::field_of("querystring/subcategory must …"),
            "subcategory"
        );
        assert_eq!(super::path_of("body/regions/0 must …"), "regions/0");
    }
}
