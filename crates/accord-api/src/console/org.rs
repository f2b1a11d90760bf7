//! What every page under `/console/o/{org}` starts from: the signed-in User's membership of
//! the organization as a principal (its role and per-project roles decide what it reads and
//! changes, with the rules of API keys, §2.3), the organization, and the navigation between
//! the console's sections.
use super::{internal, see_other, Browser};
use crate::AppState;
use accord_core::auth::{Principal, Role};
use accord_core::store::{Organization, Project};
use accord_core::Error;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
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
            Ok(ps) => Ok(ps
                .into_iter()
                .filter(|p| self.project_role(p.id) >= Role::Viewer)
                .collect()),
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

/// The field a contract validation message (§1.5) names: its first word, as the messages
/// begin with the field's path (`name must be …`, `settings.consentBanner.position must …`).
/// Forms show the message next to that field.
pub fn field_of(message: &str) -> &str {
    message
        .split_whitespace()
        .next()
        .unwrap_or("")
        .trim_end_matches([':', ','])
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
    }
}
