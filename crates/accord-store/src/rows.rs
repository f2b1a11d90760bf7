//! Row types as the database returns them, and their conversion to the domain models.
use crate::uid;
use accord_core::compliance::{ComplianceRequest, RequestEvent, SessionInfo};
use accord_core::store::{Organization, Project};
use accord_core::store::{StoreError, StoreResult as Result};
use sea_query::SimpleExpr;
use sqlx::FromRow;

#[derive(FromRow)]
pub struct SlugRow {
    pub slug: String,
}

#[derive(FromRow)]
pub struct IdRow {
    pub id: String,
}

#[derive(FromRow)]
pub struct IdentityRow {
    pub id: String,
    pub merged_into: Option<String>,
}

#[derive(FromRow)]
pub struct IdentifierRow {
    #[allow(dead_code)]
    pub id: String,
    pub email_lower: Option<String>,
    pub phone_normalized: Option<String>,
    pub user_id: Option<String>,
    pub project_user_id: Option<String>,
}

impl crate::lite::FromLite for IdRow {
    fn from_lite(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(IdRow { id: r.get("id")? })
    }
}

impl crate::lite::FromLite for IdentityRow {
    fn from_lite(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(IdentityRow {
            id: r.get("id")?,
            merged_into: r.get("merged_into")?,
        })
    }
}

impl crate::lite::FromLite for IdentifierRow {
    fn from_lite(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(IdentifierRow {
            id: r.get("id")?,
            email_lower: r.get("email_lower")?,
            phone_normalized: r.get("phone_normalized")?,
            user_id: r.get("user_id")?,
            project_user_id: r.get("project_user_id")?,
        })
    }
}

#[derive(FromRow)]
pub struct DataSystemRow {
    pub id: String,
    pub name: String,
    pub data_system_type_id: Option<String>,
}

pub const ORG_COLUMNS: [&str; 7] = [
    "id",
    "name",
    "slug",
    "primary_domain",
    "default_project_id",
    "date_created",
    "date_updated",
];

#[derive(FromRow)]
pub struct OrgRow {
    pub id: String,
    pub name: String,
    pub slug: String,
    pub primary_domain: Option<String>,
    pub default_project_id: Option<String>,
    pub date_created: i64,
    pub date_updated: i64,
}

impl OrgRow {
    pub fn into_model(self) -> Result<Organization> {
        Ok(Organization {
            id: uid(&self.id)?,
            name: self.name,
            slug: self.slug,
            primary_domain: self.primary_domain,
            default_project_id: self.default_project_id.as_deref().map(uid).transpose()?,
            date_created: self.date_created,
            date_updated: self.date_updated,
        })
    }
}

pub const PROJECT_COLUMNS: [&str; 12] = [
    "id",
    "organization_id",
    "name",
    "slug",
    "status",
    "contact_emails",
    "send_from_email_id",
    "settings",
    "privacy_policy_url",
    "terms_of_service_url",
    "date_created",
    "date_updated",
];

#[derive(FromRow)]
pub struct ProjectRow {
    pub id: String,
    pub organization_id: String,
    pub name: String,
    pub slug: String,
    pub status: String,
    pub contact_emails: String,
    pub send_from_email_id: String,
    pub settings: String,
    pub privacy_policy_url: Option<String>,
    pub terms_of_service_url: Option<String>,
    pub date_created: i64,
    pub date_updated: i64,
}

impl ProjectRow {
    /// A row read in place (`lite.rs`), by column name.
    pub fn from_lite(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(ProjectRow {
            id: r.get("id")?,
            organization_id: r.get("organization_id")?,
            name: r.get("name")?,
            slug: r.get("slug")?,
            status: r.get("status")?,
            contact_emails: r.get("contact_emails")?,
            send_from_email_id: r.get("send_from_email_id")?,
            settings: r.get("settings")?,
            privacy_policy_url: r.get("privacy_policy_url")?,
            terms_of_service_url: r.get("terms_of_service_url")?,
            date_created: r.get("date_created")?,
            date_updated: r.get("date_updated")?,
        })
    }

    pub fn into_model(self) -> Result<Project> {
        Ok(Project {
            id: uid(&self.id)?,
            organization_id: uid(&self.organization_id)?,
            name: self.name,
            slug: self.slug,
            status: self.status,
            contact_emails: serde_json::from_str(&self.contact_emails)
                .map_err(StoreError::backend)?,
            send_from_email_id: self.send_from_email_id,
            settings: serde_json::from_str(&self.settings).map_err(StoreError::backend)?,
            privacy_policy_url: self.privacy_policy_url,
            terms_of_service_url: self.terms_of_service_url,
            date_created: self.date_created,
            date_updated: self.date_updated,
            send_from: None,
        })
    }
}

pub fn project_values(p: &Project) -> Vec<SimpleExpr> {
    vec![
        p.id.to_string().into(),
        p.organization_id.to_string().into(),
        p.name.clone().into(),
        p.slug.clone().into(),
        p.status.clone().into(),
        serde_json::to_string(&p.contact_emails)
            .unwrap_or_default()
            .into(),
        p.send_from_email_id.clone().into(),
        p.settings.to_string().into(),
        p.privacy_policy_url.clone().into(),
        p.terms_of_service_url.clone().into(),
        p.date_created.into(),
        p.date_updated.into(),
    ]
}

pub const KEY_COLUMNS: [&str; 7] = [
    "id",
    "organization_id",
    "name",
    "role",
    "prefix",
    "date_created",
    "date_updated",
];

#[derive(FromRow)]
pub struct KeyRow {
    pub id: String,
    pub organization_id: String,
    pub name: String,
    pub role: String,
    pub prefix: String,
    pub date_created: i64,
    pub date_updated: i64,
}

#[derive(FromRow)]
pub struct KeyDigestRow {
    pub id: String,
    pub organization_id: String,
    pub role: String,
    pub digest: String,
    pub permission_id: Option<String>,
    pub permission_organization_id: Option<String>,
    pub permission_project_id: Option<String>,
    pub permission_role: Option<String>,
}

impl KeyDigestRow {
    /// A row read in place (`lite.rs`), by column name.
    pub fn from_lite(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(KeyDigestRow {
            id: r.get("id")?,
            organization_id: r.get("organization_id")?,
            role: r.get("role")?,
            digest: r.get("digest")?,
            permission_id: r.get("permission_id")?,
            permission_organization_id: r.get("permission_organization_id")?,
            permission_project_id: r.get("permission_project_id")?,
            permission_role: r.get("permission_role")?,
        })
    }
}

#[derive(FromRow)]
pub struct PermRow {
    pub id: String,
    pub api_key_id: String,
    pub organization_id: String,
    pub project_id: Option<String>,
    pub role: String,
}

pub const CR_COLUMNS: [&str; 39] = [
    "id",
    "organization_id",
    "project_id",
    "concord_id",
    "request",
    "request_date",
    "request_details",
    "status",
    "resolution_status",
    "resolution",
    "notes",
    "capture_url",
    "domain",
    "domain_lower",
    "preverified",
    "user_email",
    "user_email_lower",
    "user_first_name",
    "user_last_name",
    "user_phone_number",
    "session_id",
    "session_ip_address",
    "session_domain",
    "session_geography",
    "session_user_agent",
    "verification_method",
    "verification_request_id",
    "verified_date",
    "acknowledged_date",
    "resolved_date",
    "download_date",
    "file_purge_date",
    "due_date",
    "due_date_extended",
    "tasks",
    "files",
    "search_text",
    "date_created",
    "date_updated",
];

/// A compliance request's row. Read by column name, or (a list's page) from one JSON array
/// of the columns in [`CR_COLUMNS`] order, the order of these fields, where PostgreSQL gives
/// integers as text (see [`crate::db::Db::json_row`]).
#[derive(FromRow, serde::Deserialize)]
pub struct CrRow {
    pub id: String,
    pub organization_id: String,
    pub project_id: String,
    pub concord_id: String,
    pub request: String,
    #[serde(deserialize_with = "int")]
    pub request_date: i64,
    pub request_details: Option<String>,
    pub status: String,
    pub resolution_status: Option<String>,
    pub resolution: Option<String>,
    pub notes: Option<String>,
    pub capture_url: Option<String>,
    pub domain: Option<String>,
    #[allow(dead_code)]
    pub domain_lower: Option<String>,
    #[serde(deserialize_with = "int")]
    pub preverified: i64,
    pub user_email: Option<String>,
    #[allow(dead_code)]
    pub user_email_lower: Option<String>,
    pub user_first_name: Option<String>,
    pub user_last_name: Option<String>,
    pub user_phone_number: Option<String>,
    pub session_id: Option<String>,
    pub session_ip_address: Option<String>,
    pub session_domain: Option<String>,
    pub session_geography: Option<String>,
    pub session_user_agent: Option<String>,
    pub verification_method: Option<String>,
    pub verification_request_id: Option<String>,
    #[serde(deserialize_with = "opt_int")]
    pub verified_date: Option<i64>,
    #[serde(deserialize_with = "opt_int")]
    pub acknowledged_date: Option<i64>,
    #[serde(deserialize_with = "opt_int")]
    pub resolved_date: Option<i64>,
    #[serde(deserialize_with = "opt_int")]
    pub download_date: Option<i64>,
    #[serde(deserialize_with = "opt_int")]
    pub file_purge_date: Option<i64>,
    #[serde(deserialize_with = "int")]
    pub due_date: i64,
    #[serde(deserialize_with = "int")]
    pub due_date_extended: i64,
    pub tasks: String,
    pub files: String,
    #[allow(dead_code)]
    pub search_text: Option<String>,
    #[serde(deserialize_with = "int")]
    pub date_created: i64,
    #[serde(deserialize_with = "int")]
    pub date_updated: i64,
}

/// An integer of a page's JSON array: a number (SQLite) or its decimal text (PostgreSQL).
fn int<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<i64, D::Error> {
    d.deserialize_any(IntVisitor)
}

/// [`int`], or `null`.
fn opt_int<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Option<i64>, D::Error> {
    /// One integer as [`int`] reads it.
    struct Int(i64);
    impl<'de> serde::Deserialize<'de> for Int {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
            int(d).map(Int)
        }
    }
    Ok(<Option<Int> as serde::Deserialize>::deserialize(d)?.map(|Int(n)| n))
}

struct IntVisitor;

impl serde::de::Visitor<'_> for IntVisitor {
    type Value = i64;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an integer, or its decimal text")
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> std::result::Result<i64, E> {
        Ok(v)
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> std::result::Result<i64, E> {
        i64::try_from(v).map_err(E::custom)
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<i64, E> {
        v.parse().map_err(E::custom)
    }
}

/// A page row of compliance requests as one JSON array of [`CR_COLUMNS`] (see
/// [`crate::db::Db::json_row`]): one value per row for the driver to copy and convert
/// instead of 39, which was most of a list page's cost.
#[derive(FromRow)]
pub struct CrJson {
    pub cr: String,
}

impl CrJson {
    /// The row as SQLite reads it on the calling thread (see `lite.rs`).
    pub fn from_lite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(CrJson { cr: row.get(0)? })
    }

    pub fn into_model(self) -> Result<ComplianceRequest> {
        serde_json::from_str::<CrRow>(&self.cr)
            .map_err(StoreError::backend)?
            .into_model()
    }
}

impl CrRow {
    pub fn into_model(self) -> Result<ComplianceRequest> {
        let session = if self.session_id.is_some()
            || self.session_ip_address.is_some()
            || self.session_domain.is_some()
            || self.session_geography.is_some()
            || self.session_user_agent.is_some()
        {
            Some(SessionInfo {
                id: self.session_id,
                ip_address: self.session_ip_address,
                domain: self.session_domain,
                geography: self.session_geography,
                user_agent: self.session_user_agent,
            })
        } else {
            None
        };
        Ok(ComplianceRequest {
            id: uid(&self.id)?,
            concord_id: uid(&self.concord_id)?,
            organization_id: uid(&self.organization_id)?,
            project_id: uid(&self.project_id)?,
            request: self.request,
            request_date: self.request_date,
            request_details: self.request_details,
            status: self.status,
            resolution_status: self.resolution_status,
            resolution: self.resolution,
            notes: self.notes,
            capture_url: self.capture_url,
            domain: self.domain,
            preverified: self.preverified != 0,
            user_email: self.user_email,
            user_first_name: self.user_first_name,
            user_last_name: self.user_last_name,
            user_phone_number: self.user_phone_number,
            session,
            verification_method: self.verification_method,
            verification_request_id: self.verification_request_id,
            verified_date: self.verified_date,
            acknowledged_date: self.acknowledged_date,
            resolved_date: self.resolved_date,
            download_date: self.download_date,
            file_purge_date: self.file_purge_date,
            due_date: self.due_date,
            due_date_extended: self.due_date_extended != 0,
            tasks: serde_json::from_str(&self.tasks).map_err(StoreError::backend)?,
            files: serde_json::from_str(&self.files).map_err(StoreError::backend)?,
            date_created: self.date_created,
            date_updated: self.date_updated,
        })
    }
}

/// Column values in the order of [`CR_COLUMNS`].
pub fn cr_values(cr: &ComplianceRequest) -> Result<Vec<sea_query::Value>> {
    let s = cr.session.clone().unwrap_or_default();
    Ok(vec![
        cr.id.to_string().into(),
        cr.organization_id.to_string().into(),
        cr.project_id.to_string().into(),
        cr.concord_id.to_string().into(),
        cr.request.clone().into(),
        cr.request_date.into(),
        cr.request_details.clone().into(),
        cr.status.clone().into(),
        cr.resolution_status.clone().into(),
        cr.resolution.clone().into(),
        cr.notes.clone().into(),
        cr.capture_url.clone().into(),
        cr.domain.clone().into(),
        cr.domain.as_ref().map(|d| d.to_lowercase()).into(),
        (cr.preverified as i64).into(),
        cr.user_email.clone().into(),
        cr.user_email.as_ref().map(|d| d.to_lowercase()).into(),
        cr.user_first_name.clone().into(),
        cr.user_last_name.clone().into(),
        cr.user_phone_number.clone().into(),
        s.id.into(),
        s.ip_address.into(),
        s.domain.into(),
        s.geography.into(),
        s.user_agent.into(),
        cr.verification_method.clone().into(),
        cr.verification_request_id.clone().into(),
        cr.verified_date.into(),
        cr.acknowledged_date.into(),
        cr.resolved_date.into(),
        cr.download_date.into(),
        cr.file_purge_date.into(),
        cr.due_date.into(),
        (cr.due_date_extended as i64).into(),
        serde_json::to_string(&cr.tasks)
            .map_err(StoreError::backend)?
            .into(),
        serde_json::to_string(&cr.files)
            .map_err(StoreError::backend)?
            .into(),
        cr.search_text().into(),
        cr.date_created.into(),
        cr.date_updated.into(),
    ])
}

pub const EVENT_COLUMNS: [&str; 8] = [
    "id",
    "compliance_request_id",
    "organization_id",
    "project_id",
    "event",
    "account_id",
    "details",
    "date_created",
];

#[derive(FromRow)]
pub struct EventRow {
    pub id: String,
    pub compliance_request_id: String,
    pub organization_id: String,
    pub project_id: String,
    pub event: String,
    pub account_id: Option<String>,
    pub details: String,
    pub date_created: i64,
}

impl EventRow {
    pub fn into_model(self) -> Result<RequestEvent> {
        Ok(RequestEvent {
            id: uid(&self.id)?,
            compliance_request_id: uid(&self.compliance_request_id)?,
            organization_id: uid(&self.organization_id)?,
            project_id: uid(&self.project_id)?,
            event: self.event,
            account_id: self.account_id.as_deref().map(uid).transpose()?,
            details: serde_json::from_str(&self.details).map_err(StoreError::backend)?,
            date_created: self.date_created,
        })
    }
}

#[derive(FromRow)]
pub struct FilesRow {
    pub files: String,
}

#[derive(FromRow)]
pub struct LinkedDataSystemRow {
    pub project_id: String,
    pub id: String,
    pub name: String,
    pub status: String,
    pub data_system_type_id: Option<String>,
}
