//! Compliance requests (§3): the record, its wire form, the create and PATCH bodies, the
//! status machine, file rules and due dates. Every route that changes a request goes through
//! the functions here, so a rule lives in one place.
use crate::auth::Role;
use crate::schema::{string, Format, Object, Schema};
use crate::time::DAY_MS;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::OnceLock;
use uuid::Uuid;

pub mod wire;

pub const REQUEST_TYPES: &[&str] = &["change", "delete", "view", "do_not_sell"];
pub const STATUSES: &[&str] = &[
    "pending_verification",
    "submitted",
    "acknowledged",
    "resolved",
];
pub const RESOLUTION_STATUSES: &[&str] = &[
    "completed",
    "no_records_found",
    "partially_completed",
    "denied",
    "withdrawn",
];
pub const EVENT_NAMES: &[&str] = &[
    "created",
    "verification_sent",
    "verified",
    "status_changed",
    "acknowledged",
    "resolved",
    "reopened",
    "notes_updated",
    "resolution_updated",
    "data_system_task_updated",
    "file_uploaded",
    "file_deleted",
    "files_downloaded",
    "files_purged",
    "due_date_extended",
    "identity_merged",
    "identity_erased",
];
pub const PENDING: &str = "pending_verification";
pub const SUBMITTED: &str = "submitted";
pub const ACKNOWLEDGED: &str = "acknowledged";
pub const RESOLVED: &str = "resolved";

pub const MAX_FILE_BYTES: u64 = 10_485_760;
pub const MAX_FILES_PER_UPLOAD: usize = 10;
pub const MAX_PER_CREATE: usize = 100;

const VERIFY_FIRST: &str = "compliance request must be verified before it can be edited";
const REOPEN_FIRST: &str = "compliance request is resolved; reopen it before editing";

/// A file held for a request. Bytes live in the object store under [`file_key`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StoredFile {
    /// Object-store key of the bytes; unique per upload so a failed upload never touches
    /// another upload's bytes.
    pub key: String,
    pub name: String,
    pub size: i64,
    pub date: i64,
    pub account_id: String,
    pub api_key: Option<String>,
    pub media_type: String,
}

/// One task per data system snapshotted at creation (§6.5).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Task {
    pub data_system: Uuid,
    pub completed: bool,
}

/// The site session a request was filed in.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SessionInfo {
    pub id: Option<String>,
    pub ip_address: Option<String>,
    pub domain: Option<String>,
    pub geography: Option<String>,
    pub user_agent: Option<String>,
}

/// A compliance request as stored. Dates are epoch milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct ComplianceRequest {
    pub id: Uuid,
    pub concord_id: Uuid,
    pub organization_id: Uuid,
    pub project_id: Uuid,
    pub request: String,
    pub request_date: i64,
    pub request_details: Option<String>,
    pub status: String,
    pub resolution_status: Option<String>,
    pub resolution: Option<String>,
    pub notes: Option<String>,
    pub capture_url: Option<String>,
    pub domain: Option<String>,
    pub preverified: bool,
    pub user_email: Option<String>,
    pub user_first_name: Option<String>,
    pub user_last_name: Option<String>,
    pub user_phone_number: Option<String>,
    pub session: Option<SessionInfo>,
    pub verification_method: Option<String>,
    pub verification_request_id: Option<String>,
    pub verified_date: Option<i64>,
    pub acknowledged_date: Option<i64>,
    pub resolved_date: Option<i64>,
    pub download_date: Option<i64>,
    pub file_purge_date: Option<i64>,
    pub due_date: i64,
    pub due_date_extended: bool,
    pub tasks: Vec<Task>,
    pub files: Vec<StoredFile>,
    pub date_created: i64,
    pub date_updated: i64,
}

/// Name and type of a data system, for the object form of `dataSystemTasks[].dataSystem`.
#[derive(Debug, Clone)]
pub struct DataSystemSummary {
    pub id: Uuid,
    pub name: String,
    pub data_system_type_id: Option<String>,
}

/// How a request is rendered.
#[derive(Debug, Clone, Default)]
pub struct WireOptions {
    pub include_deadline: bool,
    pub data_systems: HashMap<Uuid, DataSystemSummary>,
}

/// Where the bytes of one upload of a file live in the object store: a fresh id under the
/// request, so that any name §3.8 allows fits a file-system name (the name itself is kept
/// in [`StoredFile::name`]). Keys of earlier uploads, which also carried the encoded name,
/// are stored per file and stay readable.
pub fn file_key(request: Uuid) -> String {
    format!("compliance-requests/{request}/{}", crate::ids::new_id())
}

/// Percent-encodes everything outside RFC 3986 unreserved characters.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl ComplianceRequest {
    /// The Privacy API download path of a file.
    pub fn file_path(&self, name: &str) -> String {
        format!(
            "/privacy-v1/organizations/{}/projects/{}/compliance-requests/{}/files/{}",
            self.organization_id,
            self.project_id,
            self.id,
            percent_encode(name)
        )
    }

    /// The Site API download path of a file (§5.3).
    pub fn site_file_path(&self, name: &str) -> String {
        format!(
            "/site-v1/{}/compliance-requests/{}/files/{}",
            self.project_id,
            self.id,
            percent_encode(name)
        )
    }

    /// Lowercased text the `text` filter searches (§3.9).
    pub fn search_text(&self) -> String {
        [
            &self.user_email,
            &self.user_first_name,
            &self.user_last_name,
            &self.user_phone_number,
            &self.notes,
            &self.request_details,
            &self.resolution,
        ]
        .iter()
        .filter_map(|v| v.as_deref())
        .collect::<Vec<_>>()
        .join("\n")
        .to_lowercase()
    }
}

/// An event to append in the same transaction as the change it records.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub event: &'static str,
    pub details: Value,
}

fn ev(event: &'static str, details: Value) -> NewEvent {
    NewEvent { event, details }
}

/// A stored compliance-request event (§3.10).
#[derive(Debug, Clone)]
pub struct RequestEvent {
    pub id: Uuid,
    pub compliance_request_id: Uuid,
    pub organization_id: Uuid,
    pub project_id: Uuid,
    pub event: String,
    pub account_id: Option<Uuid>,
    pub details: Value,
    pub date_created: i64,
}

/// Who acts: an API key, or nobody (the subject or a job).
#[derive(Debug, Clone, Copy)]
pub struct Actor {
    pub account_id: Option<Uuid>,
}

// ---------------------------------------------------------------------------------------
// Create

crate::body! {
    /// Privacy API create body (§3.3).
    pub struct CreateComplianceRequest {
        /// What the subject asks for: `view` (access), `change` (rectification), `delete`
        /// (erasure) or `do_not_sell` (opt-out of sale or sharing).
        request: String => "request": string().one_of(REQUEST_TYPES).s(),
        /// The subject's identity (`concordId`). It must be an identity of this project (422
        /// `concordId not found in this project`); a merged identity stands for its survivor.
        /// At least one of `concordId`, `userEmail`, `userPhoneNumber`, `projectUserId` and
        /// `userId` is required; the identity is looked up by them in that order (§3.5).
        concord_id: Option<String> => "concordId": string().format(Format::Uuid).s(),
        /// The subject's email address, stored trimmed; also identifies the subject
        /// (case-insensitive). At least one of `concordId`, `userEmail`, `userPhoneNumber`,
        /// `projectUserId` and `userId` is required; the identity is looked up by them in that
        /// order (§3.5).
        user_email: Option<String> => "userEmail": string().format(Format::Email).s(),
        /// The subject's phone number (at most 128 characters); matched on its digits and a
        /// leading `+`. At least one of `concordId`, `userEmail`, `userPhoneNumber`,
        /// `projectUserId` and `userId` is required; the identity is looked up by them in that
        /// order (§3.5).
        user_phone_number: Option<String> => "userPhoneNumber": string().max(128).s(),
        /// The subject's id in this project (at most 256 characters). At least one of
        /// `concordId`, `userEmail`, `userPhoneNumber`, `projectUserId` and `userId` is
        /// required; the identity is looked up by them in that order (§3.5).
        project_user_id: Option<String> => "projectUserId": string().max(256).s(),
        /// The subject's user id in your systems (at most 256 characters). At least one of
        /// `concordId`, `userEmail`, `userPhoneNumber`, `projectUserId` and `userId` is
        /// required; the identity is looked up by them in that order (§3.5).
        user_id: Option<String> => "userId": string().max(256).s(),
        /// The subject's first name (at most 128 characters).
        user_first_name: Option<String> => "userFirstName": string().max(128).s(),
        /// The subject's last name (at most 128 characters).
        user_last_name: Option<String> => "userLastName": string().max(128).s(),
        /// URL of the page the request was captured on (at most 2048 characters).
        capture_url: Option<String> => "captureUrl": string().max(2048).s(),
        /// Domain the request came from (at most 256 characters); defaults to the host of
        /// `captureUrl`.
        domain: Option<String> => "domain": string().max(256).s(),
        /// Internal notes (at most 2048 characters), never shown or sent to the subject.
        notes: Option<String> => "notes": string().max(2048).s(),
        /// `true` creates the request already verified (`submitted`, event `verified` with
        /// method `preverified`) and sends no verification message; default `false`:
        /// `pending_verification` and a code is sent (§3.6).
        preverified: Option<bool> => "preverified": Schema::Bool,
        /// Free details: any JSON value but `null`, stored as its text (a string as given) of
        /// at most 65536 characters.
        // Filled from the body's text by `request_details_as_written`, which also
        // checks its length on that text.
        #[serde(skip)]
        request_details: Option<String> => "requestDetails": Schema::AnyValue {
            max_serialized: None,
        },
    }
}

/// The schema of one create object.
pub fn create_schema() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    S.get_or_init(|| {
        Schema::Object(Object {
            props: CreateComplianceRequest::props(),
            required: vec!["request"],
            any_of: vec![
                "concordId",
                "userEmail",
                "userPhoneNumber",
                "projectUserId",
                "userId",
            ],
            min_props: 0,
        })
    })
}

/// The create body: one object or 1..100 of them.
pub fn create_body_schema() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    S.get_or_init(|| Schema::ObjectOrArray {
        object: Box::new(create_schema().clone()),
        min: 1,
        max: MAX_PER_CREATE,
    })
}

fn non_empty(s: &Option<String>) -> Option<String> {
    s.as_ref()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// The longest stored `requestDetails`, in characters (§1.6).
pub const MAX_DETAILS: usize = 65536;

/// The `requestDetails` of each object of a create body as it is kept (§3.2): a string as
/// sent, any other value in compact form with its numbers as written. It is read from the
/// body's text because a parsed number has lost its spelling (`-0`, `1E2`) and, past 2^53
/// or below 1e-308, its value. One entry per object, in body order; the body has passed
/// its schema.
pub fn request_details_as_written(body: &[u8]) -> Result<Vec<Option<String>>> {
    #[derive(serde::Deserialize)]
    struct Details<'a> {
        #[serde(rename = "requestDetails", borrow, default)]
        details: Option<&'a serde_json::value::RawValue>,
    }
    let array = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
    let objects: Vec<Details> = if array {
        serde_json::from_slice(body).map_err(Error::internal)?
    } else {
        vec![serde_json::from_slice(body).map_err(Error::internal)?]
    };
    objects
        .iter()
        .enumerate()
        .map(|(i, object)| {
            let Some(raw) = object.details else {
                return Ok(None);
            };
            let text = if raw.get().starts_with('"') {
                serde_json::from_str::<String>(raw.get()).map_err(Error::internal)?
            } else {
                crate::json::compact_as_written(raw.get())?
            };
            if text.chars().count() > MAX_DETAILS {
                let at = if array {
                    format!("/{i}")
                } else {
                    String::new()
                };
                return Err(Error::bad(format!(
                    "body{at}/requestDetails must NOT have more than {MAX_DETAILS} characters"
                )));
            }
            Ok(Some(text))
        })
        .collect()
}

/// Days added to `requestDate` for the due date, and for one extension (§9.2).
pub fn due_days(regulation: &str) -> (i64, i64) {
    if regulation == "ccpa" {
        (45, 45)
    } else {
        (30, 60)
    }
}

/// Everything a new request needs besides its body.
pub struct NewRequestContext {
    pub organization_id: Uuid,
    pub project_id: Uuid,
    pub concord_id: Uuid,
    pub tasks: Vec<Uuid>,
    pub regulation: String,
    pub now: i64,
    pub source: &'static str,
    pub session: Option<SessionInfo>,
}

/// Builds a new request and its creation events (§3.3 effects 3–6).
pub fn new_request(
    input: &CreateComplianceRequest,
    ctx: &NewRequestContext,
) -> (ComplianceRequest, Vec<NewEvent>) {
    let preverified = input.preverified.unwrap_or(false);
    let capture_url = non_empty(&input.capture_url);
    let domain = non_empty(&input.domain).or_else(|| {
        capture_url
            .as_deref()
            .and_then(|u| url::Url::parse(u).ok())
            .and_then(|u| u.host_str().map(str::to_string))
    });
    let (due, _) = due_days(&ctx.regulation);
    let cr = ComplianceRequest {
        id: crate::ids::new_id(),
        concord_id: ctx.concord_id,
        organization_id: ctx.organization_id,
        project_id: ctx.project_id,
        request: input.request.clone(),
        request_date: ctx.now,
        request_details: input.request_details.clone(),
        status: if preverified { SUBMITTED } else { PENDING }.into(),
        resolution_status: None,
        resolution: None,
        notes: non_empty(&input.notes),
        capture_url,
        domain,
        preverified,
        user_email: non_empty(&input.user_email),
        user_first_name: non_empty(&input.user_first_name),
        user_last_name: non_empty(&input.user_last_name),
        user_phone_number: non_empty(&input.user_phone_number),
        session: ctx.session.clone(),
        verification_method: None,
        verification_request_id: None,
        verified_date: preverified.then_some(ctx.now),
        acknowledged_date: None,
        resolved_date: None,
        download_date: None,
        file_purge_date: None,
        due_date: ctx.now + due * DAY_MS,
        due_date_extended: false,
        tasks: ctx
            .tasks
            .iter()
            .map(|d| Task {
                data_system: *d,
                completed: false,
            })
            .collect(),
        files: vec![],
        date_created: ctx.now,
        date_updated: ctx.now,
    };
    let mut events = vec![ev(
        "created",
        json!({"source": ctx.source, "request": cr.request, "preverified": preverified}),
    )];
    if preverified {
        events.push(ev("verified", json!({"method": "preverified"})));
    }
    (cr, events)
}

/// Normalised phone number for matching: digits and a leading `+` (§1.4).
pub fn normalize_phone(s: &str) -> String {
    let t = s.trim();
    let mut out = String::new();
    if t.starts_with('+') {
        out.push('+');
    }
    out.extend(t.chars().filter(|c| c.is_ascii_digit()));
    out
}

// ---------------------------------------------------------------------------------------
// PATCH

crate::body! {
    /// PATCH body (§3.7).
    pub struct PatchComplianceRequest {
        /// The new status. Allowed: `submitted` → `acknowledged`, `submitted` or `acknowledged`
        /// → `resolved`, and for admins and owners `pending_verification` → `submitted` (manual
        /// verification) and `resolved` → `acknowledged` (reopen). Any other change gives 422;
        /// the current status is a no-op.
        status: Option<String> => "status": string().one_of(STATUSES).s(),
        /// Internal notes (at most 2048 characters); accepted in every state but
        /// `pending_verification`.
        notes: Option<String> => "notes": string().max(2048).s(),
        /// Resolution text (at most 2048 characters), emailed to the subject on resolution. Not
        /// while pending or resolved (422).
        resolution: Option<String> => "resolution": string().max(2048).s(),
        /// How the request is resolved: `completed`, `no_records_found`, `partially_completed`,
        /// `denied` or `withdrawn`. Resolving needs one, from the body or stored; with only a
        /// `resolution` text it defaults to `completed`.
        resolution_status: Option<String> => "resolutionStatus": string().one_of(RESOLUTION_STATUSES).s(),
        /// Tasks whose `completed` flag changes (1 to 1000); each must be a task of the
        /// request, listed once (422 otherwise). Not while pending or resolved.
        data_system_tasks: Option<Vec<TaskUpdate>> => "dataSystemTasks": Schema::Array {
            items: Box::new(Schema::Object(Object {
                props: TaskUpdate::props(),
                required: vec!["dataSystem", "completed"],
                ..Default::default()
            })),
            min: Some(1),
            max: Some(1000),
            unique: false,
        },
        /// `true` extends the due date once: 60 days under `gdpr`, 45 under `ccpa` (Accord
        /// extension). Only while `submitted` or `acknowledged`; a second extension gives 422.
        extend_due_date: Option<bool> => "extendDueDate": Schema::ConstTrue,
    }
}

crate::body! {
    /// One data-system task of a PATCH.
    pub struct TaskUpdate {
        /// Id of the data system of one of the request's tasks.
        data_system: String => "dataSystem": string().format(Format::Uuid).s(),
        /// Whether the work in that data system is done.
        completed: bool => "completed": Schema::Bool,
    }
}

pub fn patch_schema() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    S.get_or_init(|| {
        Schema::Object(Object {
            props: PatchComplianceRequest::props(),
            min_props: 1,
            ..Default::default()
        })
    })
}

fn illegal(from: &str, to: &str) -> Error {
    Error::unprocessable(format!("illegal status transition from {from} to {to}"))
}

/// The role-dependent part of a PATCH, decided before the semantic rules (§1.5).
pub fn check_patch_role(
    cr: &ComplianceRequest,
    patch: &PatchComplianceRequest,
    role: Role,
) -> Result<()> {
    if let Some(to) = patch.status.as_deref() {
        let verify = cr.status == PENDING && to == SUBMITTED;
        let reopen = cr.status == RESOLVED && to == ACKNOWLEDGED;
        if (verify || reopen) && role < Role::Admin {
            return Err(Error::forbidden());
        }
    }
    Ok(())
}

/// Applies a PATCH to `cr` (§3.7 rules 1–8, §9.2). Returns the events to write; an empty list
/// means nothing changed and `dateUpdated` stays. `cr` is only meaningful on `Ok`.
pub fn apply_patch(
    cr: &mut ComplianceRequest,
    patch: &PatchComplianceRequest,
    regulation: &str,
    now: i64,
) -> Result<Vec<NewEvent>> {
    let from = cr.status.clone();
    let to = patch.status.clone().filter(|s| *s != from);
    let edits = patch.resolution.is_some()
        || patch.resolution_status.is_some()
        || patch.data_system_tasks.is_some()
        || patch.extend_due_date.is_some();
    match from.as_str() {
        PENDING => {
            if edits || patch.notes.is_some() {
                return Err(Error::unprocessable(VERIFY_FIRST));
            }
            if let Some(t) = &to {
                if t != SUBMITTED {
                    return Err(illegal(&from, t));
                }
            }
        }
        RESOLVED => {
            if let Some(t) = &to {
                if t != ACKNOWLEDGED {
                    return Err(illegal(&from, t));
                }
            }
            if edits {
                return Err(Error::unprocessable(REOPEN_FIRST));
            }
        }
        _ => {
            if let Some(t) = &to {
                let ok = matches!(
                    (from.as_str(), t.as_str()),
                    (SUBMITTED, ACKNOWLEDGED) | (SUBMITTED, RESOLVED) | (ACKNOWLEDGED, RESOLVED)
                );
                if !ok {
                    return Err(illegal(&from, t));
                }
            }
        }
    }

    let mut events = Vec::new();
    // Field edits first (rule 3).
    if let Some(n) = &patch.notes {
        let new = Some(n.clone()).filter(|s| !s.is_empty());
        if new != cr.notes {
            cr.notes = new;
            events.push(ev("notes_updated", json!({})));
        }
    }
    let mut fields = Vec::new();
    if let Some(r) = &patch.resolution {
        let new = Some(r.clone()).filter(|s| !s.is_empty());
        if new != cr.resolution {
            cr.resolution = new;
            fields.push("resolution");
        }
    }
    if let Some(r) = &patch.resolution_status {
        if Some(r) != cr.resolution_status.as_ref() {
            cr.resolution_status = Some(r.clone());
            fields.push("resolutionStatus");
        }
    }
    if let Some(updates) = &patch.data_system_tasks {
        let mut seen = Vec::with_capacity(updates.len());
        for (i, u) in updates.iter().enumerate() {
            let id = Uuid::parse_str(&u.data_system).map_err(|_| {
                Error::bad(format!(
                    "body/dataSystemTasks/{i}/dataSystem must match format \"uuid\""
                ))
            })?;
            if seen.contains(&id) {
                return Err(Error::unprocessable(format!(
                    "dataSystemTasks/{i}/dataSystem is listed more than once"
                )));
            }
            seen.push(id);
            if !cr.tasks.iter().any(|t| t.data_system == id) {
                return Err(Error::unprocessable(format!(
                    "dataSystemTasks/{i}/dataSystem is not a task of this compliance request"
                )));
            }
        }
        for (u, id) in updates.iter().zip(seen) {
            let task = cr
                .tasks
                .iter_mut()
                .find(|t| t.data_system == id)
                .expect("checked above");
            if task.completed != u.completed {
                task.completed = u.completed;
                events.push(ev(
                    "data_system_task_updated",
                    json!({"dataSystem": id, "completed": u.completed}),
                ));
            }
        }
    }
    if !fields.is_empty() {
        events.push(ev("resolution_updated", json!({"fields": fields})));
    }
    if patch.extend_due_date == Some(true) {
        if cr.due_date_extended {
            return Err(Error::unprocessable("due date has already been extended"));
        }
        let (_, extra) = due_days(regulation);
        let old = cr.due_date;
        cr.due_date += extra * DAY_MS;
        cr.due_date_extended = true;
        events.push(ev(
            "due_date_extended",
            json!({"from": old, "to": cr.due_date}),
        ));
    }

    // Then the status change.
    if let Some(t) = to {
        events.push(ev("status_changed", json!({"from": from, "to": t})));
        match (from.as_str(), t.as_str()) {
            (PENDING, SUBMITTED) => {
                cr.verified_date = Some(now);
                events.push(ev("verified", json!({"method": "manual"})));
            }
            (_, ACKNOWLEDGED) if from == RESOLVED => {
                cr.resolved_date = None;
                cr.resolution_status = None;
                if cr.acknowledged_date.is_none() {
                    cr.acknowledged_date = Some(now);
                }
                events.push(ev("reopened", json!({})));
            }
            (_, ACKNOWLEDGED) => {
                cr.acknowledged_date = Some(now);
                events.push(ev("acknowledged", json!({})));
            }
            (_, RESOLVED) => {
                if cr.resolution_status.is_none() {
                    if cr.resolution.is_some() {
                        cr.resolution_status = Some("completed".into());
                    } else {
                        return Err(Error::unprocessable(
                            "resolutionStatus is required to resolve a compliance request",
                        ));
                    }
                }
                cr.resolved_date = Some(now);
                events.push(ev(
                    "resolved",
                    json!({"resolutionStatus": cr.resolution_status, "notified": cr.user_email.is_some()}),
                ));
            }
            _ => unreachable!("transition checked above"),
        }
        cr.status = t;
    }
    if !events.is_empty() {
        cr.date_updated = now;
    }
    Ok(events)
}

// ---------------------------------------------------------------------------------------
// Files

/// Checks a file name (§3.8); the error is the 400 message.
pub fn check_file_name(name: &str) -> Result<()> {
    let loc = "body/file/fileName";
    let n = name.chars().count();
    let msg = if n == 0 {
        Some("must NOT have fewer than 1 characters")
    } else if n > 255 {
        Some("must NOT have more than 255 characters")
    } else if name.contains('/') || name.contains('\\') {
        Some("must NOT contain path separators")
    } else if name.contains("..") {
        Some("must NOT contain '..'")
    } else if name.chars().any(|c| (c as u32) < 0x20 || c as u32 == 0x7f) {
        Some("must NOT contain control characters")
    } else {
        None
    };
    match msg {
        Some(m) => Err(Error::bad(format!("{loc} {m}"))),
        None => Ok(()),
    }
}

fn check_file_status(cr: &ComplianceRequest) -> Result<()> {
    if cr.status == PENDING {
        return Err(Error::unprocessable(VERIFY_FIRST));
    }
    Ok(())
}

/// A file arriving in an upload.
pub struct IncomingFile {
    pub key: String,
    pub name: String,
    pub size: i64,
    pub media_type: String,
}

/// Checks that `names` may be added to `cr`, before any byte is stored.
pub fn check_upload(cr: &ComplianceRequest, names: &[&str]) -> Result<()> {
    check_file_status(cr)?;
    for (i, n) in names.iter().enumerate() {
        if cr.files.iter().any(|f| f.name == *n) || names[..i].contains(n) {
            return Err(Error::unprocessable(format!(
                "file '{n}' already exists on this compliance request"
            )));
        }
    }
    Ok(())
}

/// Adds uploaded files (§3.8 effects).
pub fn add_files(
    cr: &mut ComplianceRequest,
    files: &[IncomingFile],
    actor: &Actor,
    purge_days_after_upload: i64,
    now: i64,
) -> Result<Vec<NewEvent>> {
    let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
    check_upload(cr, &names)?;
    let account = actor.account_id.map(|a| a.to_string()).unwrap_or_default();
    let mut events = Vec::new();
    for f in files {
        cr.files.push(StoredFile {
            key: f.key.clone(),
            name: f.name.clone(),
            size: f.size,
            date: now,
            account_id: account.clone(),
            api_key: actor.account_id.map(|a| a.to_string()),
            media_type: f.media_type.clone(),
        });
        events.push(ev(
            "file_uploaded",
            json!({"fileName": f.name, "fileSize": f.size, "uploadedFilesCount": cr.files.len()}),
        ));
    }
    if cr.download_date.is_none() {
        cr.file_purge_date = Some(now + purge_days_after_upload * DAY_MS);
    }
    cr.date_updated = now;
    Ok(events)
}

/// Removes one file (§3.8 delete). Unknown names are 404.
pub fn remove_file(
    cr: &mut ComplianceRequest,
    name: &str,
    now: i64,
) -> Result<(StoredFile, Vec<NewEvent>)> {
    check_file_status(cr)?;
    let Some(pos) = cr.files.iter().position(|f| f.name == name) else {
        return Err(Error::not_found());
    };
    let removed = cr.files.remove(pos);
    if cr.files.is_empty() {
        cr.file_purge_date = None;
    }
    cr.date_updated = now;
    Ok((removed, vec![ev("file_deleted", json!({"fileName": name}))]))
}

// ---------------------------------------------------------------------------------------
// Lists

/// Filters of the compliance-request lists (§3.9). `project_ids` is the readable scope.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct RequestFilter {
    pub organization_id: Uuid,
    pub project_ids: Vec<Uuid>,
    pub start_date: Option<i64>,
    pub end_date: Option<i64>,
    pub id: Option<Uuid>,
    pub concord_id: Option<String>,
    pub session_id: Option<String>,
    pub request: Vec<String>,
    pub status: Vec<String>,
    pub resolution_status: Option<String>,
    pub domain: Option<String>,
    pub geography: Option<String>,
    pub ip_address: Option<String>,
    pub user_email: Option<String>,
    pub user_agent: Option<String>,
    pub notes: Option<String>,
    pub request_details: Option<String>,
    pub resolution: Option<String>,
    pub text: Option<String>,
    pub overdue: Option<bool>,
    pub now: i64,
}

pub const SORTS: &[&str] = &[
    "dateCreated",
    "dateUpdated",
    "requestDate",
    "verifiedDate",
    "acknowledgedDate",
    "resolvedDate",
    "dueDate",
    "status",
    "request",
    "userEmail",
];

/// Filters of the event lists (§3.10).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventFilter {
    pub organization_id: Uuid,
    pub project_ids: Vec<Uuid>,
    pub start_date: Option<i64>,
    pub end_date: Option<i64>,
    pub account_id: Option<Uuid>,
    pub compliance_request_id: Option<Uuid>,
    pub event_id: Option<Uuid>,
    pub events: Vec<String>,
}

pub const EVENT_SORTS: &[&str] = &["dateCreated", "event"];

#[cfg(test)]
mod tests {
    use super::*;

    fn req(status: &str) -> ComplianceRequest {
        let (mut cr, _) = new_request(
            &CreateComplianceRequest {
                request: "view".into(),
                user_email: Some("a@b.co".into()),
                ..Default::default()
            },
            &NewRequestContext {
                organization_id: Uuid::nil(),
                project_id: Uuid::nil(),
                concord_id: Uuid::nil(),
                tasks: vec![],
                regulation: "gdpr".into(),
                now: 1000,
                source: "privacy-v1",
                session: None,
            },
        );
        cr.status = status.into();
        cr
    }

    fn status(s: &str) -> PatchComplianceRequest {
        PatchComplianceRequest {
            status: Some(s.into()),
            ..Default::default()
        }
    }

    #[test]
    fn legal_and_illegal_transitions() {
        for (from, to, ok) in [
            (PENDING, SUBMITTED, true),
            (PENDING, ACKNOWLEDGED, false),
            (PENDING, RESOLVED, false),
            (SUBMITTED, ACKNOWLEDGED, true),
            (SUBMITTED, PENDING, false),
            (ACKNOWLEDGED, SUBMITTED, false),
            (ACKNOWLEDGED, PENDING, false),
            (RESOLVED, ACKNOWLEDGED, true),
            (RESOLVED, SUBMITTED, false),
            (RESOLVED, PENDING, false),
        ] {
            let mut cr = req(from);
            let r = apply_patch(&mut cr, &status(to), "gdpr", 2000);
            assert_eq!(r.is_ok(), ok, "{from} -> {to}: {r:?}");
            if !ok {
                assert_eq!(r.unwrap_err(), illegal(from, to));
            }
        }
    }

    #[test]
    fn resolving_needs_a_resolution_status_or_text() {
        let mut cr = req(SUBMITTED);
        assert_eq!(
            apply_patch(&mut cr, &status(RESOLVED), "gdpr", 2).unwrap_err(),
            Error::unprocessable("resolutionStatus is required to resolve a compliance request")
        );
        let mut cr = req(SUBMITTED);
        let p = PatchComplianceRequest {
            status: Some(RESOLVED.into()),
            resolution: Some("done".into()),
            ..Default::default()
        };
        let evs = apply_patch(&mut cr, &p, "gdpr", 2).unwrap();
        assert_eq!(cr.resolution_status.as_deref(), Some("completed"));
        let names: Vec<_> = evs.iter().map(|e| e.event).collect();
        assert_eq!(names, ["resolution_updated", "status_changed", "resolved"]);
    }

    #[test]
    fn due_date_extends_once() {
        let mut cr = req(SUBMITTED);
        let p = PatchComplianceRequest {
            extend_due_date: Some(true),
            ..Default::default()
        };
        let due = cr.due_date;
        apply_patch(&mut cr, &p, "gdpr", 2).unwrap();
        assert_eq!(cr.due_date, due + 60 * DAY_MS);
        assert_eq!(
            apply_patch(&mut cr, &p, "gdpr", 3).unwrap_err(),
            Error::unprocessable("due date has already been extended")
        );
    }

    #[test]
    fn file_names_are_checked() {
        assert!(check_file_name("report.pdf").is_ok());
        assert_eq!(
            check_file_name("../x").unwrap_err(),
            Error::bad("body/file/fileName must NOT contain path separators")
        );
        assert_eq!(
            check_file_name("a..b").unwrap_err(),
            Error::bad("body/file/fileName must NOT contain '..'")
        );
        assert!(check_file_name("a\u{7}b").is_err());
    }
}
