//! Organization administration (§7.1–§7.4, §7.11–§7.13): the request bodies of
//! organizations, projects and API keys, the objects answered for them, the rules on who may
//! grant which role, and the sorting and paging of the administrative lists, which are small
//! enough to be ordered in memory.
use crate::auth::{Principal, Role};
use crate::query::Page;
use crate::regions::RegionTemplate;
use crate::schema::{nullable, string, Format, Object, Schema};
use crate::{Error, Result};
use schemars::JsonSchema;
use serde::de::IgnoredAny;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::OnceLock;
use uuid::Uuid;

pub const ORGANIZATION_STATUSES: &[&str] = &["active"];
pub const PROJECT_STATUSES: &[&str] = &["active", "archived"];
pub const PROJECT_TYPES: &[&str] = &["website"];
pub const REGULATIONS: &[&str] = &["gdpr", "ccpa"];
pub const REGION_TEMPLATES: &[&str] = crate::regions::TEMPLATES;
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

/// RegionTemplate (§7.8), the input shape of `regionTemplate`.
pub fn region_template_schema() -> Schema {
    crate::regions::default_template_schema()
}

/// Project `settings` as clients may write them (§7.3); `trackers.lastRealTimeScan` is
/// server-set.
pub fn project_settings_schema() -> Schema {
    project_settings_tree().defaults(crate::store::default_settings())
}

fn project_settings_tree() -> Schema {
    let days = |text: &'static str| {
        Schema::Int {
            min: Some(1),
            max: Some(3650),
        }
        .doc(text)
    };
    object(vec![
        (
            "trackers",
            object(vec![
                ("deepScan", Schema::Bool.doc("Whether a tracker scan also fetches up to 20 same-host pages linked from each domain's first page (§8.3); default `false`.")),
                ("realTimeScan", Schema::Bool.doc("Whether the site client reports the trackers it sees in visitors' browsers (§5.7); default `false`.")),
            ])
            .doc("Tracker scanning."),
        ),
        (
            "complianceRequests",
            object(vec![
                ("regulation", string().one_of(REGULATIONS).s().doc("The regulation that sets due dates: `gdpr` (default; 30 days, extension 60) or `ccpa` (45 days, extension 45). Applies to requests created afterwards.")),
                ("filePurgeDaysAfterDownload", days("Days the response files are kept after the subject's first download, 1 to 3650; default 30.")),
                ("filePurgeDaysAfterUpload", days("Days the response files are kept after an upload while the subject has not downloaded them, 1 to 3650; default 90.")),
            ])
            .doc("Compliance requests of the project (Accord extension)."),
        ),
        (
            "identity",
            object(vec![("allowUnverifiedIdentify", Schema::Bool.doc("Whether the Site API identify call may link an email or user id without a signed token (§5.6); default `false`."))])
                .doc("Identity resolution (Accord extension)."),
        ),
    ])
}

/// The published `settings` of an answered Project: the tree clients write, each key with
/// its default, and the server-set `trackers.lastRealTimeScan`.
pub fn project_settings_json_schema() -> Value {
    let mut s = project_settings_schema().json_schema();
    if let Some(Value::Object(trackers)) = s.pointer_mut("/properties/trackers/properties") {
        trackers.insert(
            "lastRealTimeScan".into(),
            serde_json::json!({"type": "integer", "description": "When the site client last reported trackers (§5.7), in epoch milliseconds; set by the server."}),
        );
    }
    s
}

fn answered_project_settings(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::Schema::try_from(project_settings_json_schema()).expect("an object schema")
}

fn name(min: usize, max: usize) -> Schema {
    string().min(min).max(max).non_empty().s()
}

/// `subscription` of an organization create: accepted and ignored (§7.2).
fn subscription_input_schema() -> Schema {
    let count = |what: &'static str| {
        Schema::Int {
            min: Some(0),
            max: None,
        }
        .doc(what)
    };
    object(vec![
        (
            "interval",
            string().max(64).s().doc("Billing interval; ignored."),
        ),
        ("plan", string().max(64).s().doc("Plan name; ignored.")),
        (
            "addons",
            object(vec![
                ("dataSystems", count("Data systems add-on; ignored.")),
                ("domains", count("Domains add-on; ignored.")),
                ("policies", count("Policies add-on; ignored.")),
                ("users", count("Users add-on; ignored.")),
            ])
            .doc("Add-ons; ignored."),
        ),
        (
            "collectPayment",
            Schema::Bool.doc("Whether to collect a payment; ignored."),
        ),
        ("test", Schema::Bool.doc("Test subscription; ignored.")),
    ])
}

crate::body! {
    /// Body of `POST /privacy-v1/organizations` (§7.2). `regionTemplate` plans the Default
    /// region of the Default project; `coupons` and `subscription` are validated and not kept.
    pub struct CreateOrganization {
        /// Name of the organization (1 to 256 characters, required).
        name: String => "name": name(1, 256),
        /// The organization's main host name (RFC 1123, no scheme or path); also the first
        /// domain of its Default project.
        primary_domain: Option<String> => "primaryDomain": hostname(),
        /// http(s) URL of the privacy policy, given to the Default project (the `url` of its
        /// `privacy_policy` consent type).
        privacy_policy_url: Option<String> => "privacyPolicyUrl": http_url(),
        /// http(s) URL of the terms of service, given to the Default project (which then also
        /// gets a `terms_of_service` consent type).
        terms_of_service_url: Option<String> => "termsOfServiceUrl": http_url(),
        /// Contact addresses of the Default project (at most 20 emails).
        contact_emails: Vec<String> => "contactEmails": emails(),
        /// Short name, `^[a-z0-9-]{2,64}$`, unique on the server (422 when taken); derived from
        /// `name` when absent.
        organization_slug: Option<String> => "organizationSlug":
            string().pattern("^[a-z0-9-]{2,64}$").s(),
        /// Plans the Default region of the Default project (§7.8); its codes are always
        /// `["default"]`.
        region_template: Option<RegionTemplate> => "regionTemplate": region_template_schema(),
        /// Accepted for compatibility and ignored.
        coupons: Option<IgnoredAny> => "coupons": array(string().max(256).s(), None),
        /// Accepted for compatibility and ignored: a self-hosted server has no billing.
        subscription: Option<IgnoredAny> => "subscription": subscription_input_schema(),
    }
}

crate::body! {
    /// Body of `PATCH /privacy-v1/organizations/{organizationId}` (§7.2).
    pub struct PatchOrganization {
        /// New name (1 to 256 characters).
        name: Option<String> => "name": name(1, 256),
        /// New main host name (RFC 1123); `""` clears it.
        primary_domain: Option<String> => "primaryDomain": hostname(),
        /// The new default project.
        default_project_id: Option<Uuid> => "defaultProjectId": string()
            .format(Format::Uuid)
            .non_empty()
            .describe("a project of the organization (422 otherwise)")
            .s(),
    }
}

crate::body! {
    /// Body of a project create (§7.3). `type` is validated and not kept; `regionTemplate`
    /// plans the Default region and `additionalRegions` the others.
    pub struct CreateProject {
        /// Name of the project (2 to 1024 characters, required).
        name: String => "name": name(2, 1024),
        /// Type of the project: only `website`; validated and not kept.
        project_type: Option<IgnoredAny> => "type": string().one_of(PROJECT_TYPES).s(),
        /// Contact addresses of the project (at most 20 emails).
        contact_emails: Vec<String> => "contactEmails": emails(),
        /// Plans the project's Default region (§7.8); its codes are always `["default"]`.
        region_template: Option<RegionTemplate> => "regionTemplate": region_template_schema(),
        /// Further regions to create with the project (at most 50), each a RegionTemplate with
        /// a `name`.
        additional_regions: Vec<RegionTemplate> => "additionalRegions":
            array(crate::regions::region_create_schema().clone(), Some(50)),
        /// Host names the project's sites run on (at most 100): only these and their subdomains
        /// may use the Site API.
        domains: Vec<String> => "domains": array(hostname(), Some(100)),
        /// http(s) URL of the privacy policy: the `url` of the project's `privacy_policy`
        /// consent type.
        privacy_policy_url: Option<String> => "privacyPolicyUrl": http_url(),
        /// http(s) URL of the terms of service; when given, a `terms_of_service` consent type
        /// is created with it.
        terms_of_service_url: Option<String> => "termsOfServiceUrl": http_url(),
        /// Project settings (Accord extension); unset keys take their defaults.
        settings: Option<Value> => "settings": project_settings_schema(),
    }
}

crate::body! {
    /// Body of a project PATCH (§7.3).
    pub struct PatchProject {
        /// New name (2 to 1024 characters).
        name: Option<String> => "name": name(2, 1024),
        /// Replaces the contact addresses (at most 20 emails).
        contact_emails: Option<Vec<String>> => "contactEmails": emails(),
        /// Replaces the set of data systems linked to the project; each must be a data system
        /// of the organization (422 otherwise).
        data_system_ids: Option<Vec<Uuid>> => "dataSystemIds": Schema::Array {
            items: Box::new(string().format(Format::Uuid).non_empty().s()),
            min: None,
            max: None,
            unique: false,
        },
        /// The sender of the project's messages.
        send_from_email_id: Option<String> => "sendFromEmailId": string()
            .describe("\"default\" (or \"\") for the server sender, or the id of a send-from email of the organization (422 otherwise)")
            .s(),
        /// `active`, or `archived` to stop the project's Site API and new requests and consent
        /// events.
        status: Option<String> => "status": string().one_of(PROJECT_STATUSES).s(),
        /// Settings to change, deep-merged over the stored ones: objects merge, scalars and
        /// arrays replace.
        settings: Option<Value> => "settings": project_settings_schema(),
    }
}

crate::body! {
    /// One entry of an API key's `permissions` (§7.4). `name` is validated and not kept;
    /// an empty `projectId` means an organization-level entry.
    pub struct PermissionBody {
        /// The organization the entry grants a role in.
        organization_id: Uuid => "organizationId": string()
            .format(Format::Uuid)
            .non_empty()
            .describe("the caller must be admin or owner there, owner to grant owner (403); one entry per organizationId and projectId, and none without a project for the key's own organization (422)")
            .s(),
        /// The project the entry grants a role on.
        project_id: Option<String> => "projectId": string()
            .format(Format::Uuid)
            .describe("a project of organizationId (422 otherwise); absent or \"\" for an organization-level entry")
            .s(),
        /// Accepted for compatibility and ignored.
        name: Option<IgnoredAny> => "name": string().max(256).s(),
        /// The role granted: `owner`, `admin`, `limited`, `viewer` or `none`. Granting `owner`
        /// needs an owner key.
        role: String => "role": string().one_of(Role::NAMES).s(),
    }
}

fn permissions_schema() -> Schema {
    let entry = Schema::Object(Object {
        props: PermissionBody::props(),
        required: vec!["organizationId", "role"],
        ..Default::default()
    });
    array(entry, None)
}

crate::body! {
    /// Body of an API-key create or PATCH (§7.4).
    pub struct ApiKeyBody {
        /// Name of the key (at most 256 characters).
        name: Option<String> => "name": string().max(256).s(),
        /// The key's role in its home organization: `owner`, `admin`, `limited`, `viewer` or
        /// `none`. On create it defaults to `none` when `permissions` is non-empty and to
        /// `viewer` otherwise; `owner` needs an owner key.
        role: Option<String> => "role": string().one_of(Role::NAMES).s(),
        /// Further roles of the key, each on a project or on another organization; a PATCH
        /// replaces the whole set.
        permissions: Option<Vec<PermissionBody>> => "permissions": permissions_schema(),
    }
}

/// `POST /privacy-v1/organizations` (§7.2).
pub fn organization_create_schema() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    S.get_or_init(|| {
        Schema::Object(Object {
            props: CreateOrganization::props(),
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
            props: PatchOrganization::props(),
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
            props: CreateProject::props(),
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
            props: PatchProject::props(),
            min_props: 1,
            ..Default::default()
        })
    })
}

/// `POST …/api-keys` (§7.4).
pub fn api_key_create_schema() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    S.get_or_init(|| {
        Schema::Object(Object {
            props: ApiKeyBody::props(),
            ..Default::default()
        })
    })
}

/// `PATCH …/api-keys/{apiKeyId}` (§7.4).
pub fn api_key_patch_schema() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    S.get_or_init(|| {
        Schema::Object(Object {
            props: ApiKeyBody::props(),
            min_props: 1,
            ..Default::default()
        })
    })
}

/// A data system linked to a project, as the project shows it (§7.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectDataSystem {
    pub id: Uuid,
    pub name: String,
    pub status: String,
    pub data_system_type_id: Option<String>,
}

// ---------------------------------------------------------------------------------------
// Answers.

/// `statusFlags` of an Organization.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct OrganizationFlags {
    /// `true` while the organization is `active` (always, on a self-hosted server).
    pub is_active: bool,
}

/// `addons` of the subscription: none on a self-hosted server.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Addons {}

/// The subscription (§7.13), fixed for a self-hosted server; also `Organization.subscription`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Subscription {
    /// Always `self_hosted`.
    #[schemars(extend("enum" = ["self_hosted"]))]
    pub plan: &'static str,
    /// Billing interval: always `null` on a self-hosted server.
    #[schemars(schema_with = "nullable::<String>")]
    pub interval: Option<String>,
    /// Purchased add-ons: always `{}` on a self-hosted server.
    pub addons: Addons,
}

impl Subscription {
    pub fn self_hosted() -> Subscription {
        Subscription {
            plan: "self_hosted",
            interval: None,
            addons: Addons {},
        }
    }
}

/// The Organization object (§7.2), with the projects the caller can read.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct OrganizationView {
    /// Organization id (UUID).
    pub id: Uuid,
    /// Name of the organization (1 to 256 characters).
    pub name: String,
    /// Unique short name on this server, `^[a-z0-9-]{2,64}$`: `organizationSlug` when given at
    /// creation, otherwise derived from `name` (collisions get `-2`, `-3`, …).
    pub slug: String,
    /// Always `active`.
    #[schemars(extend("enum" = ORGANIZATION_STATUSES))]
    pub status: &'static str,
    /// When the status was last set, in epoch milliseconds.
    pub status_date: i64,
    /// The status as flags.
    pub status_flags: OrganizationFlags,
    /// The organization's projects the key can read (§2.3), without their `dataSystems`.
    pub projects: Vec<ProjectView>,
    /// The subscription, fixed on a self-hosted server (§7.13).
    pub subscription: Subscription,
    /// When the organization was created, in epoch milliseconds.
    pub date_created: i64,
    /// When the organization last changed, in epoch milliseconds.
    pub date_updated: i64,
    /// The organization's main host name (RFC 1123, lowercase).
    // The optional fields follow the dates: the order clients have always received.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "hostname"))]
    pub primary_domain: Option<String>,
    /// Id of the organization's default project (the `Default` project made with it, unless
    /// changed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_project_id: Option<Uuid>,
}

/// `organization` of a Project.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct OrganizationRef {
    /// Organization id (UUID).
    pub id: Uuid,
    /// Name of the organization.
    pub name: String,
    /// Unique short name of the organization.
    pub slug: String,
    /// Always `active`.
    #[schemars(extend("enum" = ORGANIZATION_STATUSES))]
    pub status: &'static str,
}

/// `statusFlags` of a Project.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct ProjectFlags {
    /// `true` while the project's status is `active`.
    pub is_active: bool,
    /// Always `false`: Accord has no test projects.
    pub is_test: bool,
}

/// `sendFromEmail` of a Project: the server sender for `"default"` (§7.3, §7.6).
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct SendFromView {
    /// `default` for the server's own sender, otherwise the send-from email id.
    pub id: String,
    /// The address messages of the project are sent from (`ACCORD_SMTP_FROM` for `default`).
    pub email: String,
    /// Display name of the sender (`Accord` for `default`).
    pub name: String,
}

/// A data system as a project or an attribute lists it: `{id, name, status,
/// dataSystemTypeId}` (§6.3, §7.3).
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct DataSystemSummary {
    /// Data system id (UUID).
    pub id: Uuid,
    /// Name of the data system.
    pub name: String,
    /// Status of the data system: `active`, `archived` or `test`.
    pub status: String,
    /// Type of the data system, e.g. `custom`.
    pub data_system_type_id: String,
}

impl From<&ProjectDataSystem> for DataSystemSummary {
    fn from(d: &ProjectDataSystem) -> DataSystemSummary {
        DataSystemSummary {
            id: d.id,
            name: d.name.clone(),
            status: d.status.clone(),
            data_system_type_id: d
                .data_system_type_id
                .clone()
                .unwrap_or_else(|| "custom".into()),
        }
    }
}

/// The Project object (§7.3).
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct ProjectView {
    /// Project id (UUID).
    pub id: Uuid,
    /// Name of the project (2 to 1024 characters).
    pub name: String,
    /// Short name of the project, unique in the organization, derived from its name.
    pub slug: String,
    /// Id of the organization the project belongs to.
    pub organization_id: Uuid,
    /// The organization the project belongs to.
    pub organization: OrganizationRef,
    /// Always `website`.
    #[serde(rename = "type")]
    #[schemars(extend("enum" = PROJECT_TYPES))]
    pub project_type: &'static str,
    /// `active`, or `archived`: the Site API then answers 404 and new compliance requests and
    /// consent events are refused (422).
    #[schemars(extend("enum" = PROJECT_STATUSES))]
    pub status: String,
    /// The status as flags.
    pub status_flags: ProjectFlags,
    /// Contact addresses of the project (at most 20).
    #[schemars(extend("items" = {"type": "string", "format": "email"}))]
    pub contact_emails: Vec<String>,
    /// `default` (the server's sender, `ACCORD_SMTP_FROM`) or the id of the organization's
    /// send-from email the project's messages use.
    pub send_from_email_id: String,
    /// The sender `sendFromEmailId` names.
    pub send_from_email: SendFromView,
    /// The project's settings: the defaults with every setting written deep-merged over
    /// them.
    #[schemars(schema_with = "answered_project_settings")]
    pub settings: Value,
    /// When the project was created, in epoch milliseconds.
    pub date_created: i64,
    /// When the project last changed, in epoch milliseconds.
    pub date_updated: i64,
    // The optional fields follow the dates: the order clients have always received.
    /// The first of `contactEmails`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "email"))]
    pub contact_email: Option<String>,
    /// The data systems linked to the project, whose active ones become tasks of its new
    /// compliance requests. Absent where the project is embedded in an Organization.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_systems: Option<Vec<DataSystemSummary>>,
}

/// `POST …/identify-secret`: the new secret, shown once (§7.3).
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct IdentifySecret {
    /// The new secret, `is_` and 43 base64url characters: sign identify tokens (HS256 JWT) with
    /// it. Shown only in this answer.
    #[schemars(extend("pattern" = "^is_[A-Za-z0-9_-]{43}$"))]
    pub identify_secret: String,
}

/// One permission entry of an ApiKey, with the names of what it points at (§7.4).
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct PermissionView {
    /// Permission entry id (UUID).
    pub id: Uuid,
    /// The organization the entry grants a role in.
    pub organization_id: Uuid,
    /// Name of that organization.
    pub organization_name: String,
    /// The role granted: `owner`, `admin`, `limited`, `viewer` or `none`.
    #[schemars(extend("enum" = Role::NAMES))]
    pub role: &'static str,
    /// The project the role is granted on; absent for an organization-level entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_id: Option<Uuid>,
    /// Name of that project.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_name: Option<String>,
}

/// The ApiKey object (§7.4).
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct ApiKeyView {
    /// API key id (UUID).
    pub id: Uuid,
    /// The secret (`ak_` and 43 base64url characters) in the create answer only, the one time
    /// it is shown; elsewhere its first 7 characters followed by `****`.
    pub api_key: String,
    /// The key's home organization.
    pub organization_id: Uuid,
    /// Name of the key (at most 256 characters).
    pub name: String,
    /// The key's role in its home organization: `owner`, `admin`, `limited`, `viewer` or `none`
    /// (§2.3).
    #[schemars(extend("enum" = Role::NAMES))]
    pub role: &'static str,
    /// Further roles: on one project (`projectId` set, overriding the organization role there)
    /// or on another organization.
    pub permissions: Vec<PermissionView>,
    /// When the key was created, in epoch milliseconds.
    pub date_created: i64,
    /// When the key last changed, in epoch milliseconds.
    pub date_updated: i64,
}

/// The caller's effective role on one project (§7.12).
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct ProjectRole {
    /// Project id (UUID).
    pub project_id: Uuid,
    /// Name of the project.
    pub project_name: String,
    /// The key's effective role on the project: its permission entry for the project if any,
    /// else its organization role.
    #[schemars(extend("enum" = Role::NAMES))]
    pub role: &'static str,
}

/// The caller's effective permissions in an organization (§7.12).
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct CallerPermissions {
    /// The organization asked about.
    pub organization_id: Uuid,
    /// Name of that organization.
    pub organization_name: String,
    /// Id of the calling key.
    pub api_key_id: Uuid,
    /// The key's organization-level role there: `owner`, `admin`, `limited`, `viewer` or
    /// `none`.
    #[schemars(extend("enum" = Role::NAMES))]
    pub role: &'static str,
    /// Every project of the organization with the key's effective role on it.
    pub projects: Vec<ProjectRole>,
}

/// A licensed allowance (§7.11): nothing is licensed, so `licensed` and `available` are
/// `null`, meaning unlimited.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Allowance {
    /// How many are licensed: always `null` (unlimited).
    #[schemars(schema_with = "nullable::<i64>")]
    pub licensed: Option<i64>,
    /// How many are in use.
    pub used: i64,
    /// How many more may be used: always `null` (unlimited).
    #[schemars(schema_with = "nullable::<i64>")]
    pub available: Option<i64>,
}

impl Allowance {
    pub fn unlimited(used: i64) -> Allowance {
        Allowance {
            licensed: None,
            used,
            available: None,
        }
    }
}

/// The sessions allowance (§7.11), which has no `available`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct SessionAllowance {
    /// How many are licensed: always `null` (unlimited).
    #[schemars(schema_with = "nullable::<i64>")]
    pub licensed: Option<i64>,
    /// Site sessions minted this UTC month.
    pub used: i64,
}

/// The features of §7.11: all of them on a self-hosted server.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct FeatureFlags {
    /// Whether policy generation is enabled: always `true`.
    pub advanced_policies: bool,
    /// Whether the Privacy API is enabled: always `true`.
    pub api_access: bool,
    /// How often tracker scans run on the server: `daily`.
    #[schemars(extend("enum" = ["daily"]))]
    pub backend_scan_frequency: &'static str,
    /// Whether the consent ledger is enabled: always `true`.
    pub consent_log: bool,
    /// Whether re-asking consent after a new consent type version is enabled: always `true`.
    pub consent_reengagement: bool,
    /// Whether custom consent types is enabled: always `true`.
    pub consent_types: bool,
    /// Whether the data map is enabled: always `true`.
    pub data_mapping: bool,
    /// Whether deep tracker scans is enabled: always `true`.
    pub deep_scan: bool,
    /// Whether Global Privacy Control support is enabled: always `true`.
    pub gpc: bool,
    /// Whether the Zapier integration is enabled: always `true`.
    pub integrations_zapier: bool,
    /// Whether multi-language widgets is enabled: always `true`.
    pub language: bool,
    /// Whether compliance requests is enabled: always `true`.
    pub privacy_requests: bool,
    /// Whether real-time tracker scans is enabled: always `true`.
    pub real_time_scan: bool,
    /// Whether regions is enabled: always `true`.
    pub regions: bool,
    /// Whether hiding the widget's "powered by" mark is enabled: always `true`.
    pub widget_hide_powered_by: bool,
}

impl FeatureFlags {
    /// Every feature on: nothing is licensed on a self-hosted server.
    pub const SELF_HOSTED: FeatureFlags = FeatureFlags {
        advanced_policies: true,
        api_access: true,
        backend_scan_frequency: "daily",
        consent_log: true,
        consent_reengagement: true,
        consent_types: true,
        data_mapping: true,
        deep_scan: true,
        gpc: true,
        integrations_zapier: true,
        language: true,
        privacy_requests: true,
        real_time_scan: true,
        regions: true,
        widget_hide_powered_by: true,
    };
}

/// `GET …/features` (§7.11): everything enabled, nothing licensed, and what the
/// organization uses.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Features {
    /// Data systems of the organization.
    pub data_systems: Allowance,
    /// Domains of the organization's projects.
    pub domains: Allowance,
    /// Policies of the organization.
    pub policies: Allowance,
    /// Users of the organization.
    pub users: Allowance,
    /// Compliance requests created this UTC month.
    pub privacy_requests: Allowance,
    /// Site sessions minted this UTC month.
    pub sessions: SessionAllowance,
    /// The features, all enabled.
    pub features: FeatureFlags,
}

/// `None` for an absent or empty (cleared) text field (§1.1).
pub fn non_empty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
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

/// Reads validated permission entries; an empty `projectId` means "no project".
pub fn parse_grants(input: &[PermissionBody]) -> Result<Vec<Grant>> {
    input
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let loc = format!("body/permissions/{i}");
            let project = match non_empty(p.project_id.clone()) {
                Some(s) => Some(crate::ids::parse_uuid(&s, &format!("{loc}/projectId"))?),
                None => None,
            };
            let role = Role::parse(&p.role).ok_or_else(|| {
                Error::bad(format!(
                    "{loc}/role must be equal to one of the allowed values: {}",
                    Role::NAMES.join(", ")
                ))
            })?;
            Ok((p.organization_id, project, role))
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
