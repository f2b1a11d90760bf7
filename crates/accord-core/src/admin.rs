//! Organization administration (§7.1–§7.4): the request bodies of organizations, projects
//! and API keys, the rules on who may grant which role, and the sorting and paging of the
//! administrative lists, which are small enough to be ordered in memory.
use crate::auth::{Principal, Role};
use crate::ids::parse_uuid;
use crate::query::Page;
use crate::schema::{string, Format, Object, Schema};
use crate::{Error, Result};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::OnceLock;
use uuid::Uuid;

pub const ORGANIZATION_STATUSES: &[&str] = &["active"];
pub const PROJECT_STATUSES: &[&str] = &["active", "archived"];
pub const PROJECT_TYPES: &[&str] = &["website"];
pub const REGULATIONS: &[&str] = &["gdpr", "ccpa"];
pub const REGION_TEMPLATES: &[&str] = &["gdpr", "united_states", "california", "custom"];
pub const ORGANIZATION_SORTS: &[&str] = &["dateCreated", "dateUpdated", "name"];
pub const PROJECT_SORTS: &[&str] = &["dateCreated", "dateUpdated", "name", "status"];
pub const API_KEY_SORTS: &[&str] = &["dateCreated", "dateUpdated", "name", "role"];

/// The message of §2.3's last-owner rule.
pub const LAST_OWNER: &str = "organization must keep at least one owner API key";

fn object(props: Vec<(&'static str, Schema)>) -> Schema {
    Schema::Object(Object {
        props,
        ..Default::default()
    })
}

fn array(items: Schema, max: Option<usize>) -> Schema {
    Schema::Array {
        items: Box::new(items),
        min: None,
        max,
        unique: false,
    }
}

fn emails() -> Schema {
    array(string().format(Format::Email).s(), Some(20))
}

fn http_url() -> Schema {
    string().format(Format::HttpUrl).s()
}

fn hostname() -> Schema {
    string().max(253).format(Format::Hostname).s()
}

fn uuid() -> Schema {
    string().format(Format::Uuid).s()
}

/// Region `settings` and `language.translations` are accepted as they come: regions are
/// not stored yet, and their full schema (§7.8) belongs with the region endpoints.
fn free_form() -> Schema {
    Schema::AnyValue {
        max_serialized: 1_000_000,
    }
}

/// RegionTemplate (§7.8), the input shape of `regionTemplate` and `additionalRegions`.
pub fn region_template_schema() -> Schema {
    object(vec![
        ("template", string().one_of(REGION_TEMPLATES).s()),
        ("name", string().max(256).s()),
        ("regions", array(string().s(), None)),
        ("customScript", string().max(100_000).s()),
        ("settings", free_form()),
        (
            "language",
            object(vec![
                ("enabled", Schema::Bool),
                ("defaultLanguage", string().max(35).s()),
                ("languages", array(string().max(35).s(), Some(50))),
                ("translations", free_form()),
            ]),
        ),
    ])
}

/// Project `settings` as clients may write them (§7.3); `trackers.lastRealTimeScan` is
/// server-set.
pub fn project_settings_schema() -> Schema {
    let days = || Schema::Int {
        min: Some(1),
        max: Some(3650),
    };
    object(vec![
        (
            "trackers",
            object(vec![
                ("deepScan", Schema::Bool),
                ("realTimeScan", Schema::Bool),
            ]),
        ),
        (
            "complianceRequests",
            object(vec![
                ("regulation", string().one_of(REGULATIONS).s()),
                ("filePurgeDaysAfterDownload", days()),
                ("filePurgeDaysAfterUpload", days()),
            ]),
        ),
        (
            "identity",
            object(vec![("allowUnverifiedIdentify", Schema::Bool)]),
        ),
    ])
}

/// `POST /privacy-v1/organizations` (§7.2).
pub fn organization_create_schema() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    S.get_or_init(|| {
        let count = || Schema::Int {
            min: Some(0),
            max: None,
        };
        Schema::Object(Object {
            props: vec![
                ("name", string().min(1).max(256).s()),
                ("primaryDomain", hostname()),
                ("privacyPolicyUrl", http_url()),
                ("termsOfServiceUrl", http_url()),
                ("contactEmails", emails()),
                (
                    "organizationSlug",
                    string().pattern("^[a-z0-9-]{2,64}$").s(),
                ),
                ("regionTemplate", region_template_schema()),
                ("coupons", array(string().max(256).s(), None)),
                (
                    "subscription",
                    object(vec![
                        ("interval", string().max(64).s()),
                        ("plan", string().max(64).s()),
                        (
                            "addons",
                            object(vec![
                                ("dataSystems", count()),
                                ("domains", count()),
                                ("policies", count()),
                                ("users", count()),
                            ]),
                        ),
                        ("collectPayment", Schema::Bool),
                        ("test", Schema::Bool),
                    ]),
                ),
            ],
            required: vec!["name"],
            ..Default::default()
        })
    })
}

/// `PATCH /privacy-v1/organizations/{organizationId}` (§7.2).
pub fn organization_patch_schema() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    S.get_or_init(|| {
        Schema::Object(Object {
            props: vec![
                ("name", string().min(1).max(256).s()),
                ("primaryDomain", hostname()),
                ("defaultProjectId", uuid()),
            ],
            min_props: 1,
            ..Default::default()
        })
    })
}

/// `POST …/projects` (§7.3).
pub fn project_create_schema() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    S.get_or_init(|| {
        Schema::Object(Object {
            props: vec![
                ("name", string().min(2).max(1024).s()),
                ("type", string().one_of(PROJECT_TYPES).s()),
                ("contactEmails", emails()),
                ("regionTemplate", region_template_schema()),
                (
                    "additionalRegions",
                    array(region_template_schema(), Some(50)),
                ),
                ("domains", array(hostname(), Some(100))),
                ("privacyPolicyUrl", http_url()),
                ("termsOfServiceUrl", http_url()),
                ("settings", project_settings_schema()),
            ],
            required: vec!["name"],
            ..Default::default()
        })
    })
}

/// `PATCH …/projects/{projectId}` (§7.3).
pub fn project_patch_schema() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    S.get_or_init(|| {
        Schema::Object(Object {
            props: vec![
                ("name", string().min(2).max(1024).s()),
                ("contactEmails", emails()),
                ("dataSystemIds", array(uuid(), None)),
                ("sendFromEmailId", string().s()),
                ("status", string().one_of(PROJECT_STATUSES).s()),
                ("settings", project_settings_schema()),
            ],
            min_props: 1,
            ..Default::default()
        })
    })
}

fn permissions_schema() -> Schema {
    array(
        Schema::Object(Object {
            props: vec![
                ("organizationId", uuid()),
                ("projectId", uuid()),
                ("name", string().max(256).s()),
                ("role", string().one_of(Role::NAMES).s()),
            ],
            required: vec!["organizationId", "role"],
            ..Default::default()
        }),
        None,
    )
}

/// `POST …/api-keys` (§7.4).
pub fn api_key_create_schema() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    S.get_or_init(|| {
        Schema::Object(Object {
            props: vec![
                ("name", string().max(256).s()),
                ("role", string().one_of(Role::NAMES).s()),
                ("permissions", permissions_schema()),
            ],
            ..Default::default()
        })
    })
}

/// `PATCH …/api-keys/{apiKeyId}` (§7.4).
pub fn api_key_patch_schema() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    S.get_or_init(|| {
        Schema::Object(Object {
            props: vec![
                ("name", string().max(256).s()),
                ("role", string().one_of(Role::NAMES).s()),
                ("permissions", permissions_schema()),
            ],
            min_props: 1,
            ..Default::default()
        })
    })
}

/// Body of `POST /privacy-v1/organizations`. `regionTemplate`, `coupons` and
/// `subscription` are validated and not kept.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateOrganization {
    pub name: String,
    pub primary_domain: Option<String>,
    pub privacy_policy_url: Option<String>,
    pub terms_of_service_url: Option<String>,
    #[serde(default)]
    pub contact_emails: Vec<String>,
    pub organization_slug: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PatchOrganization {
    pub name: Option<String>,
    pub primary_domain: Option<String>,
    pub default_project_id: Option<String>,
}

/// Body of a project create. Regions are validated and not kept.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateProject {
    pub name: String,
    #[serde(default)]
    pub contact_emails: Vec<String>,
    #[serde(default)]
    pub domains: Vec<String>,
    pub privacy_policy_url: Option<String>,
    pub terms_of_service_url: Option<String>,
    pub settings: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PatchProject {
    pub name: Option<String>,
    pub contact_emails: Option<Vec<String>>,
    pub data_system_ids: Option<Vec<String>>,
    pub send_from_email_id: Option<String>,
    pub status: Option<String>,
    pub settings: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PermissionInput {
    pub organization_id: String,
    pub project_id: Option<String>,
    pub role: String,
}

/// Body of an API-key create or PATCH.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyInput {
    pub name: Option<String>,
    pub role: Option<String>,
    pub permissions: Option<Vec<PermissionInput>>,
}

/// A data system linked to a project, as the project shows it (§7.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectDataSystem {
    pub id: Uuid,
    pub name: String,
    pub status: String,
    pub data_system_type_id: Option<String>,
}

/// `None` for an absent or empty (cleared) text field (§1.1).
pub fn non_empty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// Rejects `""` for a name, which cannot be cleared.
pub fn check_name(name: Option<&str>, min: usize) -> Result<()> {
    match name {
        Some("") => Err(Error::bad(format!(
            "body/name must NOT have fewer than {min} characters"
        ))),
        _ => Ok(()),
    }
}

/// Contact emails as stored: trimmed, empty entries dropped.
pub fn clean_emails(v: Vec<String>) -> Vec<String> {
    v.into_iter().filter_map(|e| non_empty(Some(e))).collect()
}

/// Deep merge of §7.3 settings: objects merge, scalars and arrays replace.
pub fn deep_merge(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                deep_merge(b.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (b, p) => *b = p.clone(),
    }
}

/// Case-insensitive substring match of the free-text filters (§1.7).
pub fn contains_ci(haystack: &str, needle: &str) -> bool {
    haystack.to_lowercase().contains(&needle.to_lowercase())
}

/// The value an administrative list is sorted by.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum SortKey {
    Int(i64),
    /// Compared by code point, which is the byte order of UTF-8.
    Text(String),
}

/// Sorts `items` by `page.sort` and cuts the page out (§1.7): items without a value (a
/// `None` key) come last in either direction, ties are broken by id in the same direction.
/// Returns the total before paging. The one in-memory paging of every list served from
/// memory (administration, data map).
pub fn paginate<T, K: Into<Option<SortKey>>>(
    mut items: Vec<T>,
    page: &Page,
    key: impl Fn(&T, &str) -> K,
    id: impl Fn(&T) -> Uuid,
) -> (i64, Vec<T>) {
    items.sort_by(
        |a, b| match (key(a, &page.sort).into(), key(b, &page.sort).into()) {
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some(_), None) => std::cmp::Ordering::Less,
            (x, y) => {
                let ord = x.cmp(&y).then_with(|| id(a).cmp(&id(b)));
                if page.desc {
                    ord.reverse()
                } else {
                    ord
                }
            }
        },
    );
    let total = items.len() as i64;
    let items = items
        .into_iter()
        .skip(page.offset.max(0) as usize)
        .take(page.limit.max(0) as usize)
        .collect();
    (total, items)
}

/// One permission entry of a key: organization, project (none for an organization-level
/// entry) and role.
pub type Grant = (Uuid, Option<Uuid>, Role);

/// Reads body permission entries. An empty `projectId` means "no project".
pub fn parse_grants(input: &[PermissionInput]) -> Result<Vec<Grant>> {
    input
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let loc = format!("body/permissions/{i}");
            let org = parse_uuid(&p.organization_id, &format!("{loc}/organizationId"))?;
            let project = match non_empty(p.project_id.clone()) {
                Some(s) => Some(parse_uuid(&s, &format!("{loc}/projectId"))?),
                None => None,
            };
            let role = Role::parse(&p.role).ok_or_else(|| {
                Error::bad(format!(
                    "{loc}/role must be equal to one of the allowed values: {}",
                    Role::NAMES.join(", ")
                ))
            })?;
            Ok((org, project, role))
        })
        .collect()
}

/// What an API key grants: its home role and its permission entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyGrants {
    pub role: Role,
    pub grants: Vec<Grant>,
}

impl KeyGrants {
    /// A deleted key grants nothing.
    pub fn nothing() -> KeyGrants {
        KeyGrants {
            role: Role::None,
            grants: vec![],
        }
    }

    /// The organizations this key is an owner key of: its home organization when its role
    /// is `owner`, and those of its organization-level `owner` entries.
    pub fn owner_of(&self, home: Uuid) -> BTreeSet<Uuid> {
        let mut out = BTreeSet::new();
        if self.role == Role::Owner {
            out.insert(home);
        }
        out.extend(
            self.grants
                .iter()
                .filter(|(_, p, r)| p.is_none() && *r == Role::Owner)
                .map(|(o, _, _)| *o),
        );
        out
    }
}

/// The 403 rules of §7.4 for a key of `home` going from `before` (none on create) to
/// `after`:
/// - setting or leaving the `owner` home role, or touching an owner key, needs O on `home`;
/// - each added entry needs A+ on its organization, and O when it grants `owner`;
/// - removing an `owner` entry needs O on its organization.
pub fn check_key_change(
    who: &Principal,
    home: Uuid,
    before: Option<&KeyGrants>,
    after: &KeyGrants,
) -> Result<()> {
    let at_least = |org: Uuid, role: Role| {
        if who.org_role(org) >= role {
            Ok(())
        } else {
            Err(Error::forbidden())
        }
    };
    if after.role == Role::Owner || before.is_some_and(|b| b.role == Role::Owner) {
        at_least(home, Role::Owner)?;
    }
    let empty = Vec::new();
    let old = before.map(|b| &b.grants).unwrap_or(&empty);
    for (org, _, role) in after.grants.iter().filter(|g| !old.contains(g)) {
        at_least(*org, (*role).max(Role::Admin))?;
    }
    for (org, _, role) in old.iter().filter(|g| !after.grants.contains(g)) {
        if *role == Role::Owner {
            at_least(*org, Role::Owner)?;
        }
    }
    Ok(())
}

/// The 422 rules on a permission set that need no lookup: no organization-level entry for
/// the home organization, and one entry per (organization, project).
pub fn check_grant_shape(home: Uuid, grants: &[Grant]) -> Result<()> {
    for (i, (org, project, _)) in grants.iter().enumerate() {
        if *org == home && project.is_none() {
            return Err(Error::unprocessable(format!(
                "permissions/{i} must name a project: the key's role already covers its home organization"
            )));
        }
        if grants[..i].iter().any(|(o, p, _)| o == org && p == project) {
            return Err(Error::unprocessable(format!(
                "permissions/{i} duplicates an earlier entry for the same organization and project"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Permission;

    fn principal(home: Uuid, role: Role, entries: &[Grant]) -> Principal {
        Principal {
            key_id: Uuid::now_v7(),
            home_organization_id: home,
            role,
            permissions: entries
                .iter()
                .map(|(o, p, r)| Permission {
                    id: Uuid::now_v7(),
                    organization_id: *o,
                    project_id: *p,
                    role: *r,
                })
                .collect(),
        }
    }

    #[test]
    fn admins_cannot_involve_the_owner_role() {
        let (home, other) = (Uuid::now_v7(), Uuid::now_v7());
        let admin = principal(home, Role::Admin, &[(other, None, Role::Owner)]);
        let owner_key = KeyGrants {
            role: Role::Owner,
            grants: vec![],
        };
        let viewer_key = KeyGrants {
            role: Role::Viewer,
            grants: vec![],
        };
        assert!(check_key_change(&admin, home, None, &owner_key).is_err());
        assert!(check_key_change(&admin, home, Some(&owner_key), &viewer_key).is_err());
        assert!(check_key_change(&admin, home, None, &viewer_key).is_ok());
        // Owner of `other` through an entry: may grant owner there.
        let grant_other = KeyGrants {
            role: Role::None,
            grants: vec![(other, None, Role::Owner)],
        };
        assert!(check_key_change(&admin, home, None, &grant_other).is_ok());
        let stranger = KeyGrants {
            role: Role::None,
            grants: vec![(Uuid::now_v7(), None, Role::Viewer)],
        };
        assert!(check_key_change(&admin, home, None, &stranger).is_err());
    }

    #[test]
    fn owner_organizations_and_shape() {
        let (home, other) = (Uuid::now_v7(), Uuid::now_v7());
        let k = KeyGrants {
            role: Role::Owner,
            grants: vec![
                (other, None, Role::Owner),
                (other, Some(Uuid::now_v7()), Role::Owner),
            ],
        };
        assert_eq!(k.owner_of(home), BTreeSet::from([home, other]));
        assert!(check_grant_shape(home, &[(home, None, Role::Admin)]).is_err());
        let p = Some(Uuid::now_v7());
        assert!(
            check_grant_shape(home, &[(home, p, Role::Admin), (home, p, Role::Viewer)]).is_err()
        );
        assert!(
            check_grant_shape(home, &[(home, p, Role::Admin), (other, None, Role::Viewer)]).is_ok()
        );
    }

    #[test]
    fn paging_sorts_with_id_ties() {
        let page = Page {
            offset: 1,
            limit: 2,
            sort: "name".into(),
            desc: false,
        };
        let items: Vec<(Uuid, &str)> = ["b", "a", "c", "a"]
            .iter()
            .map(|n| (Uuid::now_v7(), *n))
            .collect();
        let (total, got) = paginate(
            items.clone(),
            &page,
            |x, _| SortKey::Text(x.1.into()),
            |x| x.0,
        );
        assert_eq!(total, 4);
        assert_eq!(got, vec![items[3], items[0]]);
    }
}
