//! Users (§7.5): organization membership records. They do not authenticate to the Privacy
//! API (§2.1); one account per email address is shared by every membership of that address
//! (`accountId`), and is what the web console signs in. This module owns the request
//! bodies, the stored and answered shapes, and the owner rule of §2.3 as it applies to users.
use crate::auth::{Principal, Role};
use crate::schema::{string, Format, Object, Schema};
use crate::{Error, Result};
use schemars::JsonSchema;
use serde::Serialize;
use std::sync::OnceLock;
use uuid::Uuid;

pub const USER_STATUSES: &[&str] = &["pending", "active", "disabled"];
pub const USER_SORTS: &[&str] = &["dateCreated", "email", "name"];

/// The 422 of a second user with the same email (case-insensitive) in an organization.
pub const EMAIL_TAKEN: &str = "a user with this email already exists in this organization";

crate::body! {
    /// One entry of a user's `permissions`: a role on one project of the organization.
    pub struct UserPermissionBody {
        /// The project the role is granted on.
        project_id: Uuid => "projectId": string()
            .format(Format::Uuid)
            .non_empty()
            .describe("a project of the organization (422 otherwise), at most one entry per project (422)")
            .s(),
        /// The user's role on that project: `owner`, `admin`, `limited`, `viewer` or `none`;
        /// `owner` needs an owner caller (403).
        role: String => "role": string().one_of(Role::NAMES).s(),
    }
}

crate::body! {
    /// `account` of a user body: the person's details as this organization keeps them.
    pub struct AccountBody {
        /// The person's first name (at most 256 characters).
        first_name: Option<String> => "firstName": string().max(256).s(),
        /// The person's last name (at most 256 characters).
        last_name: Option<String> => "lastName": string().max(256).s(),
        /// The person's phone number (at most 128 characters).
        phone_number: Option<String> => "phoneNumber": string().max(128).s(),
    }
}

fn permissions_schema() -> Schema {
    Schema::Array {
        items: Box::new(Schema::Object(Object {
            props: UserPermissionBody::props(),
            required: vec!["projectId", "role"],
            ..Default::default()
        })),
        min: None,
        max: None,
        unique: false,
    }
}

crate::body! {
    /// Body of a user create or PATCH (§7.5): `email` only on create, `status` only on PATCH.
    pub struct UserBody {
        /// The user's email address (required on create, not accepted on PATCH).
        email: Option<String> => "email":
            string().max(256).format(Format::Email).non_empty()
                .describe("unique in the organization, compared case-insensitively (422)")
                .s(),
        /// The user's name (at most 256 characters).
        name: Option<String> => "name": string().max(256).s(),
        /// Notes about the user (at most 2048 characters).
        notes: Option<String> => "notes": string().max(2048).s(),
        /// The user's role in the organization: `owner`, `admin`, `limited`, `viewer` or
        /// `none`; default `viewer`.
        role: Option<String> => "role": string()
            .one_of(Role::NAMES)
            .describe("the organization-level role; owner needs an owner caller (403)")
            .s(),
        /// Roles on single projects of the organization, overriding `role` there; a PATCH
        /// replaces the whole set.
        permissions: Option<Vec<UserPermissionBody>> => "permissions": permissions_schema(),
        /// The person's details as this organization keeps them.
        account: Option<AccountBody> => "account": Schema::Object(Object {
            props: AccountBody::props(),
            ..Default::default()
        }),
        /// `pending`, `active` or `disabled` (PATCH only; a new user is `pending`).
        status: Option<String> => "status": string().one_of(USER_STATUSES).s(),
    }
}

/// `POST …/users` (§7.5).
pub fn user_create_schema() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    S.get_or_init(|| {
        Schema::Object(Object {
            props: UserBody::props()
                .into_iter()
                .filter(|(k, _)| *k != "status")
                .collect(),
            required: vec!["email"],
            ..Default::default()
        })
    })
}

/// `PATCH …/users/{userId}` (§7.5).
pub fn user_patch_schema() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    S.get_or_init(|| {
        Schema::Object(Object {
            props: UserBody::props()
                .into_iter()
                .filter(|(k, _)| *k != "email")
                .collect(),
            min_props: 1,
            ..Default::default()
        })
    })
}

/// The person's details as one organization keeps them (`User.account`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone_number: Option<String>,
}

/// A stored membership. `account_id` is set by the store on create, from the email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub account_id: Uuid,
    pub email: String,
    pub status: String,
    pub name: Option<String>,
    pub notes: Option<String>,
    pub role: Role,
    /// Per-project roles, in the order given.
    pub permissions: Vec<(Uuid, Role)>,
    pub profile: Profile,
    pub invite_date: i64,
    pub date_created: i64,
    pub date_updated: i64,
}

impl User {
    /// This membership as a principal, for the console: its organization role and
    /// per-project roles decide with the rules of API keys (§2.3). Actions are recorded
    /// under the User's id.
    pub fn principal(&self) -> Principal {
        Principal {
            key_id: self.id,
            home_organization_id: self.organization_id,
            role: self.role,
            permissions: self
                .permissions
                .iter()
                .map(|(project, role)| crate::auth::Permission {
                    id: self.id,
                    organization_id: self.organization_id,
                    project_id: Some(*project),
                    role: *role,
                })
                .collect(),
        }
    }

    /// Whether this user holds the `owner` role anywhere: organization or project.
    pub fn involves_owner(role: Role, permissions: &[(Uuid, Role)]) -> bool {
        role == Role::Owner || permissions.iter().any(|(_, r)| *r == Role::Owner)
    }
}

/// §2.3 for users: creating, changing or removing a user who holds (or would hold) the
/// `owner` role, at organization or project level, needs an owner caller. Admins manage
/// everyone else (the scope extractor has already checked A+).
pub fn check_user_change(
    who: &Principal,
    org: Uuid,
    before: Option<&User>,
    after: Option<(Role, &[(Uuid, Role)])>,
) -> Result<()> {
    let owner_before = before.is_some_and(|u| User::involves_owner(u.role, &u.permissions));
    let owner_after = after.is_some_and(|(r, p)| User::involves_owner(r, p));
    if (owner_before || owner_after) && who.org_role(org) < Role::Owner {
        return Err(Error::forbidden());
    }
    Ok(())
}

/// Reads validated permission entries and applies the 422 rule that needs no lookup: one
/// entry per project.
pub fn parse_permissions(input: &[UserPermissionBody]) -> Result<Vec<(Uuid, Role)>> {
    let mut out: Vec<(Uuid, Role)> = Vec::with_capacity(input.len());
    for (i, p) in input.iter().enumerate() {
        if out.iter().any(|(pid, _)| *pid == p.project_id) {
            return Err(Error::unprocessable(format!(
                "permissions/{i} duplicates an earlier entry for the same project"
            )));
        }
        let role = Role::parse(&p.role).ok_or_else(|| {
            Error::bad(format!(
                "body/permissions/{i}/role must be equal to one of the allowed values: {}",
                Role::NAMES.join(", ")
            ))
        })?;
        out.push((p.project_id, role));
    }
    Ok(out)
}

/// `None` for an absent or cleared (`""`) text field (§1.1).
fn text(v: Option<String>) -> Option<String> {
    crate::admin::non_empty(v)
}

/// A user as a create body describes it, before the store gives it its account.
pub fn new_user(org: Uuid, body: UserBody, permissions: Vec<(Uuid, Role)>, now: i64) -> User {
    let account = body.account.unwrap_or_default();
    User {
        id: crate::ids::new_id(),
        organization_id: org,
        account_id: Uuid::nil(),
        email: body.email.unwrap_or_default().trim().to_string(),
        status: "pending".into(),
        name: text(body.name),
        notes: text(body.notes),
        role: body
            .role
            .as_deref()
            .and_then(Role::parse)
            .unwrap_or(Role::Viewer),
        permissions,
        profile: Profile {
            first_name: text(account.first_name),
            last_name: text(account.last_name),
            phone_number: text(account.phone_number),
        },
        invite_date: now,
        date_created: now,
        date_updated: now,
    }
}

/// Applies a PATCH body: absent fields are kept, `""` clears a text field, `permissions`
/// replaces the set and `account` fields merge one by one.
pub fn apply_patch(user: &mut User, body: UserBody, permissions: Option<Vec<(Uuid, Role)>>) {
    if body.name.is_some() {
        user.name = text(body.name);
    }
    if body.notes.is_some() {
        user.notes = text(body.notes);
    }
    if let Some(role) = body.role.as_deref().and_then(Role::parse) {
        user.role = role;
    }
    if let Some(status) = body.status {
        user.status = status;
    }
    if let Some(p) = permissions {
        user.permissions = p;
    }
    if let Some(a) = body.account {
        if a.first_name.is_some() {
            user.profile.first_name = text(a.first_name);
        }
        if a.last_name.is_some() {
            user.profile.last_name = text(a.last_name);
        }
        if a.phone_number.is_some() {
            user.profile.phone_number = text(a.phone_number);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Answers.

/// One entry of `User.permissions`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct UserPermissionView {
    /// Project id (UUID).
    pub project_id: Uuid,
    /// Name of the project.
    pub project_name: String,
    /// The user's role on the project: `owner`, `admin`, `limited`, `viewer` or `none`.
    #[schemars(extend("enum" = Role::NAMES))]
    pub role: &'static str,
}

/// `User.account`: the shared account id and email, with this organization's details.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct AccountView {
    /// Account id (UUID), shared by the users of the same email in every organization.
    pub id: Uuid,
    /// The account's email address.
    #[schemars(extend("format" = "email"))]
    pub email: String,
    /// The person's first name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// The person's last name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// The person's phone number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
}

/// The User object (§7.5). It never carries the invitation code.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct UserView {
    /// User id (UUID).
    pub id: Uuid,
    /// The user's email address, unique in the organization (compared case-insensitively).
    #[schemars(extend("format" = "email"))]
    pub email: String,
    /// Id of the account, shared by the users of the same email in every organization.
    pub account_id: Uuid,
    /// The organization the user belongs to.
    pub organization_id: Uuid,
    /// Name of that organization.
    pub organization_name: String,
    /// `pending` (the default for a new user), `active` or `disabled`.
    #[schemars(extend("enum" = USER_STATUSES))]
    pub status: String,
    /// The user's organization-level role: `owner`, `admin`, `limited`, `viewer` or `none`
    /// (Accord extension).
    #[schemars(extend("enum" = Role::NAMES))]
    pub role: &'static str,
    /// When the user was added, in epoch milliseconds.
    pub invite_date: i64,
    /// The user's roles on single projects.
    pub permissions: Vec<UserPermissionView>,
    /// The person behind the user.
    pub account: AccountView,
    /// When the user was added, in epoch milliseconds.
    pub date_created: i64,
    /// When the user last changed, in epoch milliseconds.
    pub date_updated: i64,
    /// The user's name (at most 256 characters).
    // The optional fields follow the dates, as on the other administrative objects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Notes about the user (at most 2048 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

impl UserView {
    /// `project_name` names the organization's projects.
    pub fn new(
        u: &User,
        organization_name: &str,
        project_name: impl Fn(Uuid) -> String,
    ) -> UserView {
        UserView {
            id: u.id,
            email: u.email.clone(),
            account_id: u.account_id,
            organization_id: u.organization_id,
            organization_name: organization_name.to_string(),
            status: u.status.clone(),
            role: u.role.as_str(),
            invite_date: u.invite_date,
            permissions: u
                .permissions
                .iter()
                .map(|(pid, r)| UserPermissionView {
                    project_id: *pid,
                    project_name: project_name(*pid),
                    role: r.as_str(),
                })
                .collect(),
            account: AccountView {
                id: u.account_id,
                email: u.email.clone(),
                first_name: u.profile.first_name.clone(),
                last_name: u.profile.last_name.clone(),
                phone_number: u.profile.phone_number.clone(),
            },
            date_created: u.date_created,
            date_updated: u.date_updated,
            name: u.name.clone(),
            notes: u.notes.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(org: Uuid, role: Role) -> Principal {
        Principal {
            key_id: Uuid::now_v7(),
            home_organization_id: org,
            role,
            permissions: vec![],
        }
    }

    #[test]
    fn owner_users_need_an_owner() {
        let org = Uuid::now_v7();
        let project = Uuid::now_v7();
        let admin = principal(org, Role::Admin);
        let owner = principal(org, Role::Owner);
        let plain: &[(Uuid, Role)] = &[(project, Role::Admin)];
        let owning: &[(Uuid, Role)] = &[(project, Role::Owner)];
        assert!(check_user_change(&admin, org, None, Some((Role::Admin, plain))).is_ok());
        assert!(check_user_change(&admin, org, None, Some((Role::Owner, plain))).is_err());
        assert!(check_user_change(&admin, org, None, Some((Role::Viewer, owning))).is_err());
        assert!(check_user_change(&owner, org, None, Some((Role::Owner, owning))).is_ok());
        let mut u = new_user(org, UserBody::default(), vec![], 1);
        u.role = Role::Owner;
        assert!(check_user_change(&admin, org, Some(&u), None).is_err());
        assert!(check_user_change(&owner, org, Some(&u), None).is_ok());
    }

    #[test]
    fn one_entry_per_project() {
        let p = Uuid::now_v7();
        let entry = |role: &str| UserPermissionBody {
            project_id: p,
            role: role.into(),
        };
        assert_eq!(
            parse_permissions(&[entry("admin")]).unwrap(),
            vec![(p, Role::Admin)]
        );
        assert!(parse_permissions(&[entry("admin"), entry("viewer")]).is_err());
    }
}
