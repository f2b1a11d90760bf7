//! The background sender of outgoing messages (§9.6). Messages are queued in the database in
//! the transaction that causes them; this loop leases due ones, renders them, and hands
//! them to a transport: SMTP (`ACCORD_SMTP_URL`) or the outbox folder for email, the SMS
//! webhook (`ACCORD_SMS_WEBHOOK_URL`) or the outbox for SMS. A failed delivery is logged,
//! recorded, and retried later with back-off; it never touches the request itself.
use crate::AppState;
use accord_core::lifecycle::{self, Channel, OutgoingMessage};
use accord_core::store::Delivery;
use accord_core::time::now_ms;
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::path::PathBuf;
use std::time::Duration;

/// Where messages go.
#[derive(Debug, Clone)]
pub struct MailConfig {
    /// `ACCORD_SMTP_URL` (`smtp://` or `smtps://user:pass@host:port`); unset → outbox.
    pub smtp_url: Option<String>,
    /// `ACCORD_SMS_WEBHOOK_URL`; unset → outbox.
    pub sms_webhook_url: Option<String>,
    /// `<data-dir>/outbox`.
    pub outbox_dir: PathBuf,
    /// Delay before the first retry; doubled per attempt up to an hour.
    pub retry_base_ms: i64,
    /// How often the sender looks for due messages when not woken.
    pub poll_ms: u64,
}

impl Default for MailConfig {
    fn default() -> Self {
        MailConfig {
            smtp_url: None,
            sms_webhook_url: None,
            outbox_dir: PathBuf::from("accord-data/outbox"),
            retry_base_ms: 30_000,
            poll_ms: 1_000,
        }
    }
}

/// Checks a sender such as `ACCORD_SMTP_FROM`: an address, optionally with a display name.
pub fn check_mailbox(value: &str) -> Result<(), String> {
    value
        .parse::<Mailbox>()
        .map(|_| ())
        .map_err(|e| format!("'{value}' is not an email address: {e}"))
}

/// How long a leased message stays with this server before another may try it.
const LEASE_MS: i64 = 120_000;
const BATCH: u64 = 32;

/// Runs the sender until the process ends.
pub async fn run_sender(state: AppState) {
    let smtp = match state.config.mail.smtp_url.as_deref() {
        Some(url) => match AsyncSmtpTransport::<Tokio1Executor>::from_url(url) {
            Ok(b) => Some(b.timeout(Some(Duration::from_secs(20))).build()),
            Err(e) => {
                tracing::error!(error = %e, "ACCORD_SMTP_URL is not a valid SMTP URL; emails go to the outbox");
                None
            }
        },
        None => None,
    };
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap_or_default();
    let poll = Duration::from_millis(state.config.mail.poll_ms.max(10));
    loop {
        let claimed = state.store.claim_messages(now_ms(), LEASE_MS, BATCH).await;
        crate::metrics::record_job("outgoing_messages", claimed.is_ok());
        match claimed {
            Ok(batch) => {
                let full = batch.len() as u64 == BATCH;
                for msg in batch {
                    let outcome = match deliver(&state, smtp.as_ref(), &http, &msg).await {
                        Ok(()) => Delivery::Sent,
                        Err(error) => {
                            tracing::warn!(message_id = %msg.id, attempt = msg.attempts + 1, %error, "message delivery failed");
                            if msg.attempts + 1 >= lifecycle::MAX_DELIVERY_ATTEMPTS {
                                Delivery::GiveUp { error }
                            } else {
                                Delivery::Retry {
                                    at: now_ms()
                                        + lifecycle::retry_delay_ms(
                                            state.config.mail.retry_base_ms,
                                            msg.attempts + 1,
                                        ),
                                    error,
                                }
                            }
                        }
                    };
                    if let Err(e) = state.store.finish_message(&msg, &outcome, now_ms()).await {
                        tracing::error!(message_id = %msg.id, error = %e, "could not record a delivery");
                    }
                }
                if full {
                    continue;
                }
            }
            Err(e) => tracing::error!(error = %e, "could not read the message queue"),
        }
        let _ = tokio::time::timeout(poll, state.mail_wake.0.notified()).await;
    }
}

async fn deliver(
    state: &AppState,
    smtp: Option<&AsyncSmtpTransport<Tokio1Executor>>,
    http: &reqwest::Client,
    msg: &OutgoingMessage,
) -> Result<(), String> {
    let project = state
        .store
        .get_project(msg.organization_id, msg.project_id)
        .await
        .map_err(|e| e.to_string())?;
    let project_name = project
        .as_ref()
        .map(|p| p.name.clone())
        .unwrap_or_else(|| "Accord".into());
    let base = match msg.kind {
        lifecycle::MessageKind::Invitation
        | lifecycle::MessageKind::PasswordReset
        | lifecycle::MessageKind::TeamRequest
        | lifecycle::MessageKind::TeamDigest => state.config.console_base(),
        _ => state.config.public_url.as_deref(),
    };
    let rendered = lifecycle::render(msg, &project_name, base);
    match msg.channel {
        Channel::Email => {
            let (from_email, from_name) = match project.as_ref().and_then(|p| p.send_from.clone()) {
                Some(s) => (s.email, s.name.unwrap_or_else(|| project_name.clone())),
                None => (state.config.smtp_from.clone(), "Accord".to_string()),
            };
            let from: Mailbox = format!("{from_name} <{from_email}>")
                .parse()
                .or_else(|_| from_email.parse())
                .map_err(|e| format!("invalid sender address: {e}"))?;
            let to: Mailbox = msg
                .recipient
                .parse()
                .map_err(|e| format!("invalid recipient address: {e}"))?;
            let email = Message::builder()
                .from(from)
                .to(to)
                .subject(rendered.subject)
                .header(ContentType::TEXT_PLAIN)
                .body(rendered.body)
                .map_err(|e| format!("could not build the message: {e}"))?;
            match smtp {
                Some(t) => t.send(email).await.map(|_| ()).map_err(|e| e.to_string()),
                None => write_outbox(state, msg, "eml", &email.formatted()).await,
            }
        }
        Channel::Sms => match state.config.mail.sms_webhook_url.as_deref() {
            Some(url) => {
                let res = http
                    .post(url)
                    .json(&serde_json::json!({"to": msg.recipient, "body": rendered.body}))
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                if res.status().is_success() {
                    Ok(())
                } else {
                    Err(format!("SMS webhook answered {}", res.status()))
                }
            }
            None => {
                let text = format!("To: {}\n\n{}\n", msg.recipient, rendered.body);
                write_outbox(state, msg, "txt", text.as_bytes()).await
            }
        },
    }
}

/// Writes `<epoch-ms>-<uuid>.<ext>` into the outbox and appends a line describing it to
/// `index.jsonl`.
async fn write_outbox(
    state: &AppState,
    msg: &OutgoingMessage,
    ext: &str,
    bytes: &[u8],
) -> Result<(), String> {
    use tokio::io::AsyncWriteExt;
    let dir = &state.config.mail.outbox_dir;
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|e| e.to_string())?;
    let name = format!("{}-{}.{ext}", now_ms(), msg.id);
    tokio::fs::write(dir.join(&name), bytes)
        .await
        .map_err(|e| e.to_string())?;
    let line = serde_json::json!({
        "file": name,
        "messageId": msg.id,
        "kind": msg.kind.as_str(),
        "channel": msg.channel.as_str(),
        "to": msg.recipient,
        "complianceRequestId": msg.compliance_request_id,
        "projectId": msg.project_id,
        "date": now_ms(),
    })
    .to_string()
        + "\n";
    let mut index = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("index.jsonl"))
        .await
        .map_err(|e| e.to_string())?;
    index
        .write_all(line.as_bytes())
        .await
        .map_err(|e| e.to_string())
}
