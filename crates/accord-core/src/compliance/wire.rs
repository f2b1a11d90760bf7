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
    pub id: Uuid,
    pub concord_id: Uuid,
    pub organization: Uuid,
    pub project: Uuid,
    #[schemars(extend("enum" = ["change", "delete", "view", "do_not_sell"]))]
    pub request: String,
    /// Epoch milliseconds.
    pub request_date: i64,
    /// Strings as given; other JSON compactly serialised.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_details: Option<String>,
    #[schemars(extend("enum" = ["pending_verification", "submitted", "acknowledged", "resolved"]))]
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["completed", "no_records_found", "partially_completed", "denied", "withdrawn"]))]
    pub resolution_status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub resolution: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capture_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    pub preverified: bool,
    pub user: User,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<Session>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["email", "sms"]))]
    pub verification_method: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified_date: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acknowledged_date: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub resolved_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub download_date: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_purge_date: Option<i64>,
    pub date_created: i64,
    pub date_updated: i64,
}

/// The data subject's contact details; each present only when known.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct User {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(email)]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
}

/// The site session the request was filed in.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Session {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "ipv4"))]
    pub ip_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub geography: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

/// One data-system task: the system as an object when it still exists, else its id.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Task {
    pub data_system: TaskSystem,
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
    pub id: Uuid,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_system_type_id: Option<String>,
}

/// A response file as the Privacy API lists it (§3.8).
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct File {
    #[schemars(length(min = 1, max = 255))]
    pub file_name: String,
    #[schemars(range(min = 0, max = 10485760))]
    pub file_size: i64,
    pub file_path: String,
    pub date: i64,
    pub date_created: i64,
    pub account_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    #[schemars(extend("const" = "file_uploaded"))]
    pub event: &'static str,
    /// The media type.
    pub details: String,
}

/// A compliance request as the Privacy API answers it (§3.2).
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct PrivacyComplianceRequest {
    #[serde(flatten)]
    pub common: Common,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub notes: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification_request_id: Option<String>,
    pub data_system_tasks: Vec<Task>,
    pub files: Vec<File>,
    /// Only with `include=deadline`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due_date: Option<i64>,
    /// Only with `include=deadline`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due_date_extended: Option<bool>,
}

/// A response file as the Site API lists it, once the request is resolved (§5.3).
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct SiteFile {
    #[schemars(length(min = 1, max = 255))]
    pub file_name: String,
    #[schemars(range(min = 0, max = 10485760))]
    pub file_size: i64,
    pub date: i64,
    pub date_created: i64,
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
    pub files: Vec<SiteFile>,
}

/// A compliance-request event (§3.10).
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Event {
    pub id: Uuid,
    pub compliance_request_id: Uuid,
    pub organization_id: Uuid,
    pub project_id: Uuid,
    #[schemars(extend("enum" = ["created", "verification_sent", "verified", "status_changed", "acknowledged", "resolved", "reopened", "notes_updated", "resolution_updated", "data_system_task_updated", "file_uploaded", "file_deleted", "files_downloaded", "files_purged", "due_date_extended", "identity_merged", "identity_erased"]))]
    pub event: String,
    /// `null` for the data subject and for background jobs.
    #[schemars(extend("nullable" = true))]
    pub account_id: Option<Uuid>,
    pub details: serde_json::Map<String, Value>,
    #[schemars(extend("format" = "date-time"))]
    pub date_created: String,
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
