//! The answered forms of a compliance request: the Privacy API object (§3.2), the Site API
//! variant (§5.3) and the request event (§3.10). Each is a `Serialize` type whose published
//! schema is derived from it, so the documented shape is the returned one.
use super::{ComplianceRequest, RequestEvent, WireOptions, RESOLVED};
use crate::time::to_rfc3339;
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

/// The fields both APIs answer.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Common {
    /// Compliance request id (UUID), set by the server.
    pub id: Uuid,
    /// The data subject's identity (`concordId`, §4.5), resolved or created from the
    /// identifiers given at creation.
    pub concord_id: Uuid,
    /// Id of the organization the request belongs to.
    pub organization: Uuid,
    /// Id of the project the request belongs to.
    pub project: Uuid,
    /// What the subject asks for: `view` (access), `change` (rectification), `delete` (erasure)
    /// or `do_not_sell` (opt-out of sale or sharing).
    #[schemars(extend("enum" = ["change", "delete", "view", "do_not_sell"]))]
    pub request: String,
    /// When the request was received, in epoch milliseconds.
    pub request_date: i64,
    /// Free details given at creation: a string is returned as given, any other JSON value as
    /// its compact serialisation (object keys in input order).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_details: Option<String>,
    /// Where the request is in its lifecycle: `pending_verification` until the subject (or an
    /// admin) verifies it, then `submitted`, `acknowledged` and `resolved`.
    #[schemars(extend("enum" = ["pending_verification", "submitted", "acknowledged", "resolved"]))]
    pub status: String,
    /// How the request was resolved: `completed`, `no_records_found`, `partially_completed`,
    /// `denied` or `withdrawn`. Removed when the request is reopened.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["completed", "no_records_found", "partially_completed", "denied", "withdrawn"]))]
    pub resolution_status: Option<String>,
    /// Resolution text (at most 2048 characters), sent to the subject by email when the request
    /// is resolved.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub resolution: Option<String>,
    /// URL of the page the request was captured on (at most 2048 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capture_url: Option<String>,
    /// Domain the request came from (at most 256 characters); defaults to the host of
    /// `captureUrl` when that is an absolute URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// `true` when the request was created already verified (Privacy API `preverified: true`),
    /// which skips the subject's verification.
    pub preverified: bool,
    /// The subject's contact details exactly as submitted; `{}` when none were given.
    pub user: User,
    /// The site session the request was filed in; present on requests created through the Site
    /// API.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<Session>,
    /// How the subject was asked to verify: `email` or `sms`. Absent when no message was sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["email", "sms"]))]
    pub verification_method: Option<String>,
    /// When the request was verified, in epoch milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified_date: Option<i64>,
    /// When the request was first acknowledged, in epoch milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acknowledged_date: Option<i64>,
    /// When the request was resolved, as an RFC 3339 date-time in UTC (the only date-time on
    /// this object, a documented quirk). Removed when the request is reopened.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub resolved_date: Option<String>,
    /// When the subject first downloaded the response files, in epoch milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub download_date: Option<i64>,
    /// When the stored response files will be deleted, in epoch milliseconds: upload time plus
    /// the project's `filePurgeDaysAfterUpload` until the subject downloads, then download time
    /// plus `filePurgeDaysAfterDownload`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_purge_date: Option<i64>,
    /// When the request was stored, in epoch milliseconds.
    pub date_created: i64,
    /// When the request last changed, in epoch milliseconds.
    pub date_updated: i64,
}

/// The data subject's contact details; each present only when known.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct User {
    /// The subject's email address, as submitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(email)]
    pub email: Option<String>,
    /// The subject's first name, as submitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// The subject's last name, as submitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// The subject's phone number, as submitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
}

/// The site session the request was filed in.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Session {
    /// Id of the site session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The visitor's IPv4 address (an IPv4-mapped IPv6 address in dotted form; other IPv6
    /// addresses are omitted). Removed by an identity erasure.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "ipv4"))]
    pub ip_address: Option<String>,
    /// Host of the page the session was minted on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// The visitor's location, `CC` or `CC-SUB` (ISO 3166-1 alpha-2, optionally with an ISO
    /// 3166-2 subdivision), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub geography: Option<String>,
    /// The browser's `User-Agent` (at most 512 characters). Removed by an identity erasure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

/// One data-system task: the system as an object when it still exists, else its id.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Task {
    /// The data system to handle: the object `{id, name, dataSystemTypeId}` while the system
    /// exists, its id (UUID) once it was deleted.
    pub data_system: TaskSystem,
    /// Whether the work in this data system is done; set with PATCH `dataSystemTasks`.
    pub completed: bool,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum TaskSystem {
    Known(SystemSummary),
    Id(Uuid),
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct SystemSummary {
    /// Data system id (UUID).
    pub id: Uuid,
    /// Name of the data system.
    pub name: String,
    /// Type of the data system, e.g. `custom`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_system_type_id: Option<String>,
}

/// A response file as the Privacy API lists it (§3.8).
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct File {
    /// Name of the file, unique within the request (1 to 255 characters).
    #[schemars(length(min = 1, max = 255))]
    pub file_name: String,
    /// Size of the file in bytes (at most 10485760).
    #[schemars(range(min = 0, max = 10485760))]
    pub file_size: i64,
    /// Path that downloads the file on this API, with the name percent-encoded.
    pub file_path: String,
    /// When the file was uploaded, in epoch milliseconds.
    pub date: i64,
    /// When the file was uploaded, in epoch milliseconds (same as `date`).
    pub date_created: i64,
    /// Id of the API key or user that uploaded the file.
    pub account_id: String,
    /// Id (never the secret) of the API key that uploaded the file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    /// Always `file_uploaded`.
    #[schemars(extend("const" = "file_uploaded"))]
    pub event: &'static str,
    /// Media type of the upload, e.g. `application/pdf` (`application/octet-stream` when its
    /// part declared none).
    pub details: String,
}

/// A compliance request as the Privacy API answers it (§3.2).
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct PrivacyComplianceRequest {
    #[serde(flatten)]
    pub common: Common,
    /// Internal notes (at most 2048 characters); never shown or sent to the subject.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub notes: Option<String>,
    /// Id (UUID) of the current verification challenge.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification_request_id: Option<String>,
    /// One task per active data system linked to the project when the request was created; this
    /// set is never recomputed.
    pub data_system_tasks: Vec<Task>,
    /// Response files uploaded for the subject.
    pub files: Vec<File>,
    /// When the request is due, in epoch milliseconds: 30 days after `requestDate` under
    /// `gdpr`, 45 under `ccpa`, plus any extension. Only with `include=deadline` (Accord
    /// extension).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due_date: Option<i64>,
    /// Whether the due date was extended (PATCH `extendDueDate`, once per request). Only with
    /// `include=deadline` (Accord extension).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due_date_extended: Option<bool>,
}

/// A response file as the Site API lists it, once the request is resolved (§5.3).
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct SiteFile {
    /// Name of the file (1 to 255 characters).
    #[schemars(length(min = 1, max = 255))]
    pub file_name: String,
    /// Size of the file in bytes (at most 10485760).
    #[schemars(range(min = 0, max = 10485760))]
    pub file_size: i64,
    /// When the file was uploaded, in epoch milliseconds.
    pub date: i64,
    /// When the file was uploaded, in epoch milliseconds (same as `date`).
    pub date_created: i64,
    /// Site API path that downloads the file for the subject, with the name percent-encoded.
    pub file_path: String,
}

/// The Site API variant (§5.3): no notes, tasks or verification request id; files only once
/// resolved, each with its Site API download path.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct SiteComplianceRequest {
    #[serde(flatten)]
    pub common: Common,
    /// Response files for the subject: listed only once the request is `resolved`, `[]` before.
    pub files: Vec<SiteFile>,
}

/// A compliance-request event (§3.10).
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Event {
    /// Event id (UUID), which `complianceRequestEventId` filters on.
    pub id: Uuid,
    /// Id of the compliance request the event belongs to.
    pub compliance_request_id: Uuid,
    /// Id of the organization.
    pub organization_id: Uuid,
    /// Id of the project.
    pub project_id: Uuid,
    /// What happened, e.g. `created`, `verified`, `status_changed` or `file_uploaded` (the
    /// vocabulary of §3.10).
    #[schemars(extend("enum" = ["created", "verification_sent", "verified", "status_changed", "acknowledged", "resolved", "reopened", "notes_updated", "resolution_updated", "data_system_task_updated", "file_uploaded", "file_deleted", "files_downloaded", "files_purged", "due_date_extended", "identity_merged", "identity_erased"]))]
    pub event: String,
    /// Id of the API key or user account that acted; `null` for the data subject and for
    /// background jobs.
    #[schemars(extend("nullable" = true))]
    pub account_id: Option<Uuid>,
    /// What the event records; its keys depend on `event`, e.g. `{from, to}` for
    /// `status_changed`.
    pub details: serde_json::Map<String, Value>,
    /// When the event was written, as an RFC 3339 date-time in UTC.
    #[schemars(extend("format" = "date-time"))]
    pub date_created: String,
    /// Same as `dateCreated`: events never change.
    #[schemars(extend("format" = "date-time"))]
    pub date_updated: String,
}

impl ComplianceRequest {
    fn common(&self) -> Common {
        Common {
            id: self.id,
            concord_id: self.concord_id,
            organization: self.organization_id,
            project: self.project_id,
            request: self.request.clone(),
            request_date: self.request_date,
            request_details: self.request_details.clone(),
            status: self.status.clone(),
            resolution_status: self.resolution_status.clone(),
            resolution: self.resolution.clone(),
            capture_url: self.capture_url.clone(),
            domain: self.domain.clone(),
            preverified: self.preverified,
            user: User {
                email: self.user_email.clone(),
                first_name: self.user_first_name.clone(),
                last_name: self.user_last_name.clone(),
                phone_number: self.user_phone_number.clone(),
            },
            session: self.session.as_ref().map(|s| Session {
                id: s.id.clone(),
                ip_address: s.ip_address.clone(),
                domain: s.domain.clone(),
                geography: s.geography.clone(),
                user_agent: s.user_agent.clone(),
            }),
            verification_method: self.verification_method.clone(),
            verified_date: self.verified_date,
            acknowledged_date: self.acknowledged_date,
            resolved_date: self.resolved_date.map(to_rfc3339),
            download_date: self.download_date,
            file_purge_date: self.file_purge_date,
            date_created: self.date_created,
            date_updated: self.date_updated,
        }
    }

    /// The Privacy API form (§3.2): exactly the documented fields, plus the deadline when asked.
    pub fn to_wire(&self, opts: &WireOptions) -> PrivacyComplianceRequest {
        PrivacyComplianceRequest {
            common: self.common(),
            notes: self.notes.clone(),
            verification_request_id: self.verification_request_id.clone(),
            data_system_tasks: self
                .tasks
                .iter()
                .map(|t| Task {
                    data_system: match opts.data_systems.get(&t.data_system) {
                        Some(d) => TaskSystem::Known(SystemSummary {
                            id: d.id,
                            name: d.name.clone(),
                            data_system_type_id: d.data_system_type_id.clone(),
                        }),
                        None => TaskSystem::Id(t.data_system),
                    },
                    completed: t.completed,
                })
                .collect(),
            files: self
                .files
                .iter()
                .map(|f| File {
                    file_name: f.name.clone(),
                    file_size: f.size,
                    file_path: self.file_path(&f.name),
                    date: f.date,
                    date_created: f.date,
                    account_id: f.account_id.clone(),
                    api_key: f.api_key.clone(),
                    event: "file_uploaded",
                    details: f.media_type.clone(),
                })
                .collect(),
            due_date: opts.include_deadline.then_some(self.due_date),
            due_date_extended: opts.include_deadline.then_some(self.due_date_extended),
        }
    }

    /// The Site API form (§5.3).
    pub fn to_site_wire(&self) -> SiteComplianceRequest {
        let files = if self.status == RESOLVED {
            self.files
                .iter()
                .map(|f| SiteFile {
                    file_name: f.name.clone(),
                    file_size: f.size,
                    date: f.date,
                    date_created: f.date,
                    file_path: self.site_file_path(&f.name),
                })
                .collect()
        } else {
            vec![]
        };
        SiteComplianceRequest {
            common: self.common(),
            files,
        }
    }
}

impl RequestEvent {
    pub fn to_wire(&self) -> Event {
        let d = to_rfc3339(self.date_created);
        Event {
            id: self.id,
            compliance_request_id: self.compliance_request_id,
            organization_id: self.organization_id,
            project_id: self.project_id,
            event: self.event.clone(),
            account_id: self.account_id,
            details: match &self.details {
                Value::Object(m) => m.clone(),
                _ => Default::default(),
            },
            date_created: d.clone(),
            date_updated: d,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::published;
    use serde_json::json;

    /// The enums published in the schemas are the ones the rules use.
    #[test]
    fn published_enums_are_the_rules() {
        let cr = published::<PrivacyComplianceRequest>();
        let props = &cr["properties"];
        assert_eq!(props["request"]["enum"], json!(super::super::REQUEST_TYPES));
        assert_eq!(props["status"]["enum"], json!(super::super::STATUSES));
        assert_eq!(
            props["resolutionStatus"]["enum"],
            json!(super::super::RESOLUTION_STATUSES)
        );
        assert_eq!(cr["additionalProperties"], false);
        let ev = published::<Event>();
        assert_eq!(
            ev["properties"]["event"]["enum"],
            json!(super::super::EVENT_NAMES)
        );
        assert_eq!(
            ev["properties"]["accountId"]["type"],
            json!(["string", "null"])
        );
    }
}
