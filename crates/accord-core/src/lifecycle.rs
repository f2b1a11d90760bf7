//! What happens to a compliance request for the person who made it: the Site API create
//! body and response variant (§5.3), verification challenges (§3.6), the outgoing messages
//! they cause (§9.6), and subject downloads (§3.8).
use crate::compliance::{ComplianceRequest, CreateComplianceRequest, NewEvent, REQUEST_TYPES};
use crate::schema::{string, Format, Object, Schema};
use crate::time::DAY_MS;
use rand::{Rng, RngCore};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::sync::OnceLock;
use uuid::Uuid;

/// How long a challenge stays valid (§3.6).
pub const CHALLENGE_TTL_MS: i64 = 72 * 3_600_000;
/// Wrong code attempts a challenge allows (§3.6, §1.6).
pub const MAX_CODE_ATTEMPTS: i64 = 5;
/// Site compliance-request creations per client IP per hour (§1.6).
pub const SITE_CREATES_PER_IP_HOUR: i64 = 10;
/// Site compliance-request creations per `userEmail` per project per hour (§1.6).
pub const SITE_CREATES_PER_EMAIL_HOUR: i64 = 3;
pub const HOUR_MS: i64 = 3_600_000;

// ---------------------------------------------------------------------------------------
// Site create (§5.3)

crate::body! {
    /// Site API create body (§5.3). `userEmail` and `captureUrl` may not be empty: the
    /// published `minLength` is enforced by [`check_site_create`].
    pub struct SiteCreateRequest {
        /// What the subject asks for: `view` (access), `change` (rectification), `delete`
        /// (erasure) or `do_not_sell` (opt-out of sale or sharing).
        request: String => "request": string().one_of(REQUEST_TYPES).s(),
        /// The subject's email address (required); the verification code is sent to it. It is
        /// added to the session's identity only when that identity has none and no other
        /// identity holds it.
        user_email: String => "userEmail": string().min(1).format(Format::Email).s(),
        /// The http(s) URL of the page the request is filed on (required, at most 2048
        /// characters); its host becomes the request's `domain`.
        capture_url: String => "captureUrl": string().min(1).max(2048).format(Format::HttpUrl).s(),
        /// The subject's first name (at most 128 characters).
        user_first_name: Option<String> => "userFirstName": string().max(128).s(),
        /// The subject's last name (at most 128 characters).
        user_last_name: Option<String> => "userLastName": string().max(128).s(),
        /// The subject's phone number (at most 128 characters).
        user_phone_number: Option<String> => "userPhoneNumber": string().max(128).s(),
        /// Free details: any JSON value but `null`, stored as its text (a string as given) of
        /// at most 65536 characters.
        // Filled from the body's text by `crate::compliance::request_details_as_written`,
        // which also checks its length on that text.
        #[serde(skip)]
        request_details: Option<String> => "requestDetails": Schema::AnyValue {
            max_serialized: None,
        },
    }
}

impl SiteCreateRequest {
    /// The Privacy API create input it amounts to: never preverified, identity from the
    /// session.
    pub fn to_create(&self, concord_id: Uuid) -> CreateComplianceRequest {
        CreateComplianceRequest {
            request: self.request.clone(),
            concord_id: Some(concord_id.to_string()),
            user_email: Some(self.user_email.clone()),
            user_phone_number: self.user_phone_number.clone(),
            user_first_name: self.user_first_name.clone(),
            user_last_name: self.user_last_name.clone(),
            capture_url: Some(self.capture_url.clone()),
            preverified: Some(false),
            request_details: self.request_details.clone(),
            ..Default::default()
        }
    }
}

/// The schema of the site create body.
pub fn site_create_schema() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    S.get_or_init(|| {
        Schema::Object(Object {
            props: SiteCreateRequest::props(),
            required: vec!["request", "userEmail", "captureUrl"],
            any_of: vec![],
            min_props: 0,
        })
    })
}

/// Checks what the schema lets through as "clears the field": a site request needs a real
/// address and URL.
pub fn check_site_create(body: &SiteCreateRequest) -> crate::Result<()> {
    if body.user_email.trim().is_empty() {
        return Err(crate::Error::bad(
            "body/userEmail must match format \"email\"",
        ));
    }
    if body.capture_url.trim().is_empty() {
        return Err(crate::Error::bad(
            "body/captureUrl must match format \"uri\"",
        ));
    }
    Ok(())
}

/// The schema of the verify-by-code body.
pub fn verify_code_schema() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    S.get_or_init(|| {
        Schema::Object(Object {
            props: VerifyCode::props(),
            required: vec!["code"],
            any_of: vec![],
            min_props: 0,
        })
    })
}

crate::body! {
    /// The verify-by-code body (§3.6).
    pub struct VerifyCode {
        /// The 6-digit code of the verification message. A wrong code gives 422 and counts as
        /// one of the 5 attempts of the challenge.
        code: String => "code": string().pattern("^[0-9]{6}$").s(),
    }
}

// ---------------------------------------------------------------------------------------
// Verification (§3.6)

/// A verification challenge as stored: only digests of the code and the link token.
#[derive(Debug, Clone, PartialEq)]
pub struct Challenge {
    pub id: Uuid,
    pub compliance_request_id: Uuid,
    pub project_id: Uuid,
    pub method: String,
    pub code_digest: String,
    pub token_digest: String,
    pub attempts: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub date_created: i64,
}

/// A new challenge with its secrets, which exist in clear only in the message sent.
pub struct NewChallenge {
    pub challenge: Challenge,
    pub code: String,
    pub token: String,
    pub message: OutgoingMessage,
}

/// Digest of a code, bound to its challenge so equal codes of two challenges differ.
pub fn code_digest(challenge: Uuid, code: &str) -> String {
    crate::auth::digest(&format!("{challenge}:{code}"))
}

/// Starts verification of a new `pending_verification` request (§3.6): email when the
/// request has one, else SMS to its phone, else nothing. Sets `verificationMethod` and
/// `verificationRequestId` on the request.
pub fn start_verification(cr: &mut ComplianceRequest, now: i64) -> Option<NewChallenge> {
    if cr.status != crate::compliance::PENDING {
        return None;
    }
    let (method, recipient) = if let Some(e) = cr.user_email.clone() {
        ("email", e)
    } else if let Some(p) = cr.user_phone_number.clone() {
        ("sms", p)
    } else {
        return None;
    };
    let id = crate::ids::new_id();
    let code = format!("{:06}", rand::thread_rng().gen_range(0..1_000_000u32));
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    use base64::Engine;
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    cr.verification_method = Some(method.into());
    cr.verification_request_id = Some(id.to_string());
    let challenge = Challenge {
        id,
        compliance_request_id: cr.id,
        project_id: cr.project_id,
        method: method.into(),
        code_digest: code_digest(id, &code),
        token_digest: crate::auth::digest(&token),
        attempts: 0,
        expires_at: now + CHALLENGE_TTL_MS,
        used_at: None,
        date_created: now,
    };
    let message = OutgoingMessage::new(
        cr,
        MessageKind::Verification,
        if method == "email" {
            Channel::Email
        } else {
            Channel::Sms
        },
        recipient,
        json!({"code": code, "token": token, "request": cr.request}),
        now,
    );
    Some(NewChallenge {
        challenge,
        code,
        token,
        message,
    })
}

/// Why a code was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeRejection {
    NotPending,
    Expired,
    Invalid,
}

impl CodeRejection {
    pub fn message(self) -> &'static str {
        match self {
            CodeRejection::NotPending => "compliance request is not pending verification",
            CodeRejection::Expired => "verification code expired",
            CodeRejection::Invalid => "invalid verification code",
        }
    }
}

/// Checks a submitted code. A wrong code counts as an attempt (the caller stores
/// `attempts + 1`).
pub fn check_code(
    cr: &ComplianceRequest,
    challenge: Option<&Challenge>,
    code: &str,
    now: i64,
) -> Result<(), CodeRejection> {
    if cr.status != crate::compliance::PENDING {
        return Err(CodeRejection::NotPending);
    }
    let Some(c) = challenge else {
        return Err(CodeRejection::Expired);
    };
    if c.used_at.is_some() || c.expires_at <= now || c.attempts >= MAX_CODE_ATTEMPTS {
        return Err(CodeRejection::Expired);
    }
    if !crate::auth::digests_equal(&c.code_digest, &code_digest(c.id, code)) {
        return Err(CodeRejection::Invalid);
    }
    Ok(())
}

/// Whether a link token's challenge can still verify its request.
pub fn link_usable(cr: &ComplianceRequest, c: &Challenge, now: i64) -> bool {
    cr.status == crate::compliance::PENDING
        && c.used_at.is_none()
        && c.expires_at > now
        && cr.verification_request_id.as_deref() == Some(&c.id.to_string())
}

/// Applies a successful verification: `submitted`, `verifiedDate`, and the events of §3.6.
pub fn mark_verified(cr: &mut ComplianceRequest, method: &str, now: i64) -> Vec<NewEvent> {
    let from = std::mem::replace(&mut cr.status, crate::compliance::SUBMITTED.into());
    cr.verified_date = Some(now);
    cr.date_updated = now;
    vec![
        NewEvent {
            event: "status_changed",
            details: json!({"from": from, "to": crate::compliance::SUBMITTED}),
        },
        NewEvent {
            event: "verified",
            details: json!({"method": method}),
        },
    ]
}

/// `j***@example.com` for emails, `***1234` for phone numbers (§3.6).
pub fn mask_destination(channel: Channel, to: &str) -> String {
    match channel {
        Channel::Email => match to.split_once('@') {
            Some((local, domain)) => {
                let first: String = local.chars().take(1).collect();
                format!("{first}***@{domain}")
            }
            None => "***".into(),
        },
        Channel::Sms => {
            let digits: Vec<char> = to.chars().filter(|c| c.is_ascii_digit()).collect();
            let tail: String = digits[digits.len().saturating_sub(4)..].iter().collect();
            format!("***{tail}")
        }
    }
}

/// The first subject download sets `downloadDate` and restarts the purge clock (§3.8).
pub fn subject_download(
    cr: &mut ComplianceRequest,
    file: &str,
    purge_days_after_download: i64,
    now: i64,
) -> Vec<NewEvent> {
    if cr.download_date.is_none() {
        cr.download_date = Some(now);
        cr.file_purge_date = Some(now + purge_days_after_download * DAY_MS);
        cr.date_updated = now;
    }
    vec![NewEvent {
        event: "files_downloaded",
        details: json!({
            "requestDownloadId": crate::ids::new_id(),
            "downloadedFilesCount": 1,
            "fileName": file,
        }),
    }]
}

/// The purge job's change to one due request (§3.8): files emptied, purge date kept.
/// Returns the object-store keys to delete once committed, and the event.
pub fn purge_files(cr: &mut ComplianceRequest, now: i64) -> Option<(Vec<String>, NewEvent)> {
    let due = cr.file_purge_date.is_some_and(|d| d <= now);
    if !due || cr.files.is_empty() {
        return None;
    }
    let keys: Vec<String> = cr.files.drain(..).map(|f| f.key).collect();
    cr.date_updated = now;
    let event = NewEvent {
        event: "files_purged",
        details: json!({"purgedFilesCount": keys.len()}),
    };
    Some((keys, event))
}

// ---------------------------------------------------------------------------------------
// Outgoing messages (§9.6)

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Email,
    Sms,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
        }
    }
    pub fn parse(s: &str) -> Channel {
        if s == "sms" {
            Channel::Sms
        } else {
            Channel::Email
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    Verification,
    Resolution,
    /// An invitation to the web console (a User was created).
    Invitation,
    /// A console password-reset link.
    PasswordReset,
    /// To the privacy team: a new verified request (`crate::notifications`).
    TeamRequest,
    /// To the privacy team: the day's digest of requests due soon or overdue.
    TeamDigest,
}

impl MessageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Verification => "verification",
            MessageKind::Resolution => "resolution",
            MessageKind::Invitation => "invitation",
            MessageKind::PasswordReset => "password_reset",
            MessageKind::TeamRequest => "team_request",
            MessageKind::TeamDigest => "team_digest",
        }
    }
    pub fn parse(s: &str) -> MessageKind {
        match s {
            "resolution" => MessageKind::Resolution,
            "invitation" => MessageKind::Invitation,
            "password_reset" => MessageKind::PasswordReset,
            "team_request" => MessageKind::TeamRequest,
            "team_digest" => MessageKind::TeamDigest,
            _ => MessageKind::Verification,
        }
    }
}

/// A message waiting in the database for the background sender. `payload` holds what the
/// text is rendered from; the verification secrets are removed once it is delivered.
#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingMessage {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub project_id: Uuid,
    pub compliance_request_id: Uuid,
    pub kind: MessageKind,
    pub channel: Channel,
    pub recipient: String,
    pub payload: Value,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub date_created: i64,
}

impl OutgoingMessage {
    pub fn new(
        cr: &ComplianceRequest,
        kind: MessageKind,
        channel: Channel,
        recipient: String,
        payload: Value,
        now: i64,
    ) -> OutgoingMessage {
        OutgoingMessage {
            id: crate::ids::new_id(),
            organization_id: cr.organization_id,
            project_id: cr.project_id,
            compliance_request_id: cr.id,
            kind,
            channel,
            recipient,
            payload,
            attempts: 0,
            next_attempt_at: now,
            date_created: now,
        }
    }
}

/// A console message to `to` about no compliance request (an invitation or a password
/// reset): its request and project ids are nil. `payload.token` is the link's token,
/// removed once delivered.
pub fn console_message(
    organization: Uuid,
    kind: MessageKind,
    to: String,
    payload: Value,
    now: i64,
) -> OutgoingMessage {
    OutgoingMessage {
        id: crate::ids::new_id(),
        organization_id: organization,
        project_id: Uuid::nil(),
        compliance_request_id: Uuid::nil(),
        kind,
        channel: Channel::Email,
        recipient: to,
        payload,
        attempts: 0,
        next_attempt_at: now,
        date_created: now,
    }
}

/// The resolution notification for a request that just became `resolved`, when the
/// subject has an email address (§9.6).
pub fn resolution_message(cr: &ComplianceRequest, now: i64) -> Option<OutgoingMessage> {
    let to = cr.user_email.clone()?;
    Some(OutgoingMessage::new(
        cr,
        MessageKind::Resolution,
        Channel::Email,
        to,
        json!({
            "request": cr.request,
            "resolutionStatus": cr.resolution_status,
            "resolution": cr.resolution,
            "files": cr.files.len(),
        }),
        now,
    ))
}

/// Delay before retry `attempt` (1-based) of a failed delivery: `base` doubled per
/// attempt, at most one hour.
pub fn retry_delay_ms(base_ms: i64, attempt: i64) -> i64 {
    let shift = (attempt - 1).clamp(0, 16) as u32;
    base_ms.saturating_mul(1i64 << shift).min(HOUR_MS)
}

/// Deliveries tried before a message is given up.
pub const MAX_DELIVERY_ATTEMPTS: i64 = 10;

/// Subject and text of a message.
pub struct Rendered {
    pub subject: String,
    pub body: String,
}

fn request_label(request: &str) -> &'static str {
    match request {
        "view" => "access (view) your personal data",
        "change" => "correct (change) your personal data",
        "delete" => "delete your personal data",
        "do_not_sell" => "opt out of the sale of your personal data",
        _ => "exercise your privacy rights",
    }
}

/// Renders a message. `project_name` names the sender's site; `public_url` is
/// `ACCORD_PUBLIC_URL`, without which emails carry no link.
pub fn render(msg: &OutgoingMessage, project_name: &str, public_url: Option<&str>) -> Rendered {
    let p = &msg.payload;
    let s = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    match msg.kind {
        MessageKind::Verification => {
            let code = s("code");
            if msg.channel == Channel::Sms {
                return Rendered {
                    subject: String::new(),
                    body: format!("Your {project_name} verification code is {code}"),
                };
            }
            let mut body = format!(
                "We received a request to {} at {project_name}.\r\n\r\n\
                 To confirm that it was you, enter this verification code: {code}\r\n",
                request_label(&s("request"))
            );
            if let Some(base) = public_url {
                body.push_str(&format!(
                    "\r\nOr open this link to confirm:\r\n{}/site-v1/{}/verify/{}\r\n",
                    base.trim_end_matches('/'),
                    msg.project_id,
                    s("token")
                ));
            }
            body.push_str(
                "\r\nThe code is valid for 72 hours. If you did not make this request, \
                 you can ignore this message.\r\n",
            );
            Rendered {
                subject: format!("Your verification code: {code}"),
                body,
            }
        }
        MessageKind::Invitation | MessageKind::PasswordReset => {
            let link = crate::console::link_url(
                public_url.unwrap_or(""),
                if msg.kind == MessageKind::Invitation {
                    crate::console::LinkKind::Invitation
                } else {
                    crate::console::LinkKind::PasswordReset
                },
                &s("token"),
            );
            if msg.kind == MessageKind::Invitation {
                Rendered {
                    subject: format!("You are invited to {} on Accord", s("organizationName")),
                    body: format!(
                        "You have been invited to join {} in the Accord privacy console.\r\n\r\n\
                         Open this link to choose your password and sign in:\r\n{link}\r\n\r\n\
                         The link can be used once and is valid for 7 days.\r\n",
                        s("organizationName")
                    ),
                }
            } else {
                Rendered {
                    subject: "Reset your Accord password".into(),
                    body: format!(
                        "Someone asked to reset the password of this address in the Accord \
                         privacy console.\r\n\r\nOpen this link to choose a new password:\r\n\
                         {link}\r\n\r\nThe link can be used once and is valid for one hour. \
                         If you did not ask for it, ignore this message.\r\n"
                    ),
                }
            }
        }
        MessageKind::TeamRequest | MessageKind::TeamDigest => {
            crate::notifications::render(msg, project_name, public_url)
        }
        MessageKind::Resolution => {
            let status = s("resolutionStatus");
            let mut body = format!(
                "Your request to {} at {project_name} has been resolved.\r\n\r\n\
                 Resolution status: {}\r\n",
                request_label(&s("request")),
                if status.is_empty() {
                    "resolved"
                } else {
                    &status
                }
            );
            let text = s("resolution");
            if !text.is_empty() {
                body.push_str(&format!("\r\n{text}\r\n"));
            }
            if p.get("files").and_then(Value::as_i64).unwrap_or(0) > 0 {
                body.push_str(
                    "\r\nFiles are available for you to download from the privacy center.\r\n",
                );
            }
            Rendered {
                subject: format!("Your privacy request has been resolved ({project_name})"),
                body,
            }
        }
    }
}

/// The payload once delivered: the verification secrets are dropped.
pub fn redacted(payload: &Value) -> Value {
    let mut p = payload.clone();
    if let Value::Object(m) = &mut p {
        m.remove("code");
        m.remove("token");
    }
    p
}

/// The `verification_sent` event of a delivery outcome (§3.6).
pub fn verification_sent(msg: &OutgoingMessage, delivered: bool) -> NewEvent {
    NewEvent {
        event: "verification_sent",
        details: json!({
            "method": msg.channel.as_str(),
            "destination": mask_destination(msg.channel, &msg.recipient),
            "delivered": delivered,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_are_masked() {
        assert_eq!(
            mask_destination(Channel::Email, "jane@example.com"),
            "j***@example.com"
        );
        assert_eq!(
            mask_destination(Channel::Sms, "+1 (555) 123-4567"),
            "***4567"
        );
    }

    #[test]
    fn retries_back_off_up_to_an_hour() {
        assert_eq!(retry_delay_ms(1000, 1), 1000);
        assert_eq!(retry_delay_ms(1000, 3), 4000);
        assert_eq!(retry_delay_ms(60_000, 12), HOUR_MS);
    }

    #[test]
    fn verification_email_has_code_and_link_only_with_public_url() {
        let msg = OutgoingMessage {
            id: Uuid::nil(),
            organization_id: Uuid::nil(),
            project_id: Uuid::nil(),
            compliance_request_id: Uuid::nil(),
            kind: MessageKind::Verification,
            channel: Channel::Email,
            recipient: "a@b.co".into(),
            payload: json!({"code": "123456", "token": "tok", "request": "view"}),
            attempts: 0,
            next_attempt_at: 0,
            date_created: 0,
        };
        let plain = render(&msg, "Shop", None);
        assert!(plain.body.contains("123456"));
        assert!(!plain.body.contains("/verify/"));
        let linked = render(&msg, "Shop", Some("https://p.example.com/"));
        assert!(linked.body.contains(
            "https://p.example.com/site-v1/00000000-0000-0000-0000-000000000000/verify/tok"
        ));
        let sms = render(
            &OutgoingMessage {
                channel: Channel::Sms,
                ..msg
            },
            "Shop",
            Some("https://p.example.com"),
        );
        assert!(sms.body.contains("123456") && !sms.body.contains("verify/"));
    }
}
