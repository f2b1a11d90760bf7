//! SQL for the life of a compliance request after it is filed: verification challenges
//! (§3.6), the outgoing-message queue (§9.6), send-from emails (§7.6), the file purge and
//! job claims (§3.8, §9.5), and the site creation limits (§1.6). Its
//! [`MessageStore`] implementation is at the end.
use super::*;
use crate::cache::ClearOnDrop;
use crate::db::{db_err, is_unique_violation};
use crate::paging::{contains_ci, page_of};
use crate::rows::{CrRow, CR_COLUMNS};
use crate::{a, all, exec, one, uid, SqlStore};
use accord_core::compliance::{Actor, ComplianceRequest, NewEvent};
use accord_core::lifecycle::{self, Challenge, Channel, MessageKind, OutgoingMessage};
use accord_core::query::Page;
use accord_core::store::{Delivery, SendFrom, SendFromEmail, SiteCreateCounts};
use accord_core::store::{Key, StoreError, StoreResult as Result};
use sea_query::{Asterisk, Cond, Expr, Func, InsertStatement, OnConflict, Order, Query};
use sqlx::{AnyConnection, FromRow};
use uuid::Uuid;

/// The insert of a verification challenge's row.
pub(crate) fn challenge_insert(c: &Challenge) -> InsertStatement {
    let mut q = Query::insert();
    q.into_table(a("verification_challenges"))
        .columns(
            [
                "id",
                "compliance_request_id",
                "project_id",
                "method",
                "code_digest",
                "token_digest",
                "attempts",
                "expires_at",
                "used_at",
                "date_created",
            ]
            .map(a),
        )
        .values_panic([
            c.id.to_string().into(),
            c.compliance_request_id.to_string().into(),
            c.project_id.to_string().into(),
            c.method.clone().into(),
            c.code_digest.clone().into(),
            c.token_digest.clone().into(),
            c.attempts.into(),
            c.expires_at.into(),
            c.used_at.into(),
            c.date_created.into(),
        ]);
    q
}

pub(crate) async fn insert_message(
    s: &SqlStore,
    ex: &mut AnyConnection,
    m: &OutgoingMessage,
) -> Result<()> {
    exec(&s.db, &mut *ex, &message_insert(m)).await?;
    Ok(())
}

/// The insert of an outgoing message's row (pending, not yet claimed).
pub(crate) fn message_insert(m: &OutgoingMessage) -> InsertStatement {
    let mut q = Query::insert();
    q.into_table(a("outgoing_messages"))
        .columns(
            [
                "id",
                "organization_id",
                "project_id",
                "compliance_request_id",
                "kind",
                "channel",
                "recipient",
                "payload",
                "status",
                "attempts",
                "next_attempt_at",
                "claimed_until",
                "date_created",
            ]
            .map(a),
        )
        .values_panic([
            m.id.to_string().into(),
            m.organization_id.to_string().into(),
            m.project_id.to_string().into(),
            m.compliance_request_id.to_string().into(),
            m.kind.as_str().into(),
            m.channel.as_str().into(),
            m.recipient.clone().into(),
            m.payload.to_string().into(),
            "pending".into(),
            m.attempts.into(),
            m.next_attempt_at.into(),
            0i64.into(),
            m.date_created.into(),
        ]);
    q
}

#[derive(FromRow)]
struct ChallengeRow {
    id: String,
    compliance_request_id: String,
    project_id: String,
    method: String,
    code_digest: String,
    token_digest: String,
    attempts: i64,
    expires_at: i64,
    used_at: Option<i64>,
    date_created: i64,
}

const CHALLENGE_COLUMNS: [&str; 10] = [
    "id",
    "compliance_request_id",
    "project_id",
    "method",
    "code_digest",
    "token_digest",
    "attempts",
    "expires_at",
    "used_at",
    "date_created",
];

impl ChallengeRow {
    fn into_model(self) -> Result<Challenge> {
        Ok(Challenge {
            id: uid(&self.id)?,
            compliance_request_id: uid(&self.compliance_request_id)?,
            project_id: uid(&self.project_id)?,
            method: self.method,
            code_digest: self.code_digest,
            token_digest: self.token_digest,
            attempts: self.attempts,
            expires_at: self.expires_at,
            used_at: self.used_at,
            date_created: self.date_created,
        })
    }
}

async fn challenge_where(
    s: &SqlStore,
    ex: &mut AnyConnection,
    col: &str,
    value: String,
) -> Result<Option<Challenge>> {
    let mut q = Query::select();
    q.columns(CHALLENGE_COLUMNS.map(a))
        .from(a("verification_challenges"))
        .and_where(Expr::col(a(col)).eq(value));
    let row: Option<ChallengeRow> = one(&s.db, &mut *ex, &q).await?;
    row.map(ChallengeRow::into_model).transpose()
}

/// Loads and locks one request of a project inside `ex`'s transaction.
async fn locked_request(
    s: &SqlStore,
    ex: &mut AnyConnection,
    project: Uuid,
    id: Uuid,
) -> Result<Option<ComplianceRequest>> {
    let mut q = Query::select();
    q.columns(CR_COLUMNS.map(a))
        .from(a("compliance_requests"))
        .and_where(Expr::col(a("id")).eq(id.to_string()))
        .and_where(Expr::col(a("project_id")).eq(project.to_string()));
    if s.db.locks_rows() {
        q.lock(sea_query::LockType::Update);
    }
    let row: Option<CrRow> = one(&s.db, &mut *ex, &q).await?;
    row.map(CrRow::into_model).transpose()
}

/// Loads and locks the request and the challenge `key` finds, lets `decide` judge the
/// attempt, and writes the decision: a verification uses up the challenge and writes the
/// request and its events (§3.6); a wrong code counts an attempt.
pub(crate) async fn verify(
    s: &SqlStore,
    project: Uuid,
    key: ChallengeKey,
    now: i64,
    decide: VerifyFn,
) -> Result<Option<(ComplianceRequest, Verification)>> {
    let mut tx = s.db.begin_write().await?;
    let (mut cr, challenge) = match key {
        ChallengeKey::Request(id) => {
            let Some(cr) = locked_request(s, &mut tx, project, id).await? else {
                return Ok(None);
            };
            let challenge = match cr.verification_request_id.clone() {
                Some(cid) => challenge_where(s, &mut tx, "id", cid).await?,
                None => None,
            };
            (cr, challenge)
        }
        ChallengeKey::TokenDigest(digest) => {
            let Some(c) = challenge_where(s, &mut tx, "token_digest", digest).await? else {
                return Ok(None);
            };
            if c.project_id != project {
                return Ok(None);
            }
            let Some(cr) = locked_request(s, &mut tx, project, c.compliance_request_id).await?
            else {
                return Ok(None);
            };
            (cr, Some(c))
        }
    };
    let decision = decide(&mut cr, challenge.as_ref());
    match (&decision, &challenge) {
        (Verification::Verified(events, messages), Some(c)) => {
            for m in messages {
                insert_message(s, &mut tx, m).await?;
            }
            let mut q = Query::update();
            q.table(a("verification_challenges"))
                .value(a("used_at"), now)
                .and_where(Expr::col(a("id")).eq(c.id.to_string()));
            exec(&s.db, &mut *tx, &q).await?;
            s.write_request(&mut tx, &cr).await?;
            s.insert_events(&mut tx, &cr, Actor { account_id: None }, events, now)
                .await?;
        }
        (Verification::Verified(..), None) => {
            return Err(StoreError::backend("verified without a challenge"));
        }
        (
            Verification::Refused {
                count_attempt: true,
                ..
            },
            Some(c),
        ) => {
            let mut q = Query::update();
            q.table(a("verification_challenges"))
                .value(a("attempts"), Expr::col(a("attempts")).add(1))
                .and_where(Expr::col(a("id")).eq(c.id.to_string()));
            exec(&s.db, &mut *tx, &q).await?;
        }
        (Verification::Refused { .. }, _) => return Ok(Some((cr, decision))),
    }
    tx.commit().await.map_err(db_err)?;
    Ok(Some((cr, decision)))
}

// ---------------------------------------------------------------------------------------
// Outgoing messages

/// Drops every message, sent or queued, of a request whose subject was erased: they hold
/// the subject's address and, while queued, would still reach it.
pub(crate) async fn forget_messages(
    s: &SqlStore,
    ex: &mut AnyConnection,
    request: Uuid,
) -> Result<()> {
    let mut d = Query::delete();
    d.from_table(a("outgoing_messages"))
        .and_where(Expr::col(a("compliance_request_id")).eq(request.to_string()));
    exec(&s.db, &mut *ex, &d).await?;
    Ok(())
}

#[derive(FromRow)]
struct MessageRow {
    id: String,
    organization_id: String,
    project_id: String,
    compliance_request_id: String,
    kind: String,
    channel: String,
    recipient: String,
    payload: String,
    attempts: i64,
    next_attempt_at: i64,
    date_created: i64,
}

const MESSAGE_COLUMNS: [&str; 11] = [
    "id",
    "organization_id",
    "project_id",
    "compliance_request_id",
    "kind",
    "channel",
    "recipient",
    "payload",
    "attempts",
    "next_attempt_at",
    "date_created",
];

impl MessageRow {
    fn into_model(self) -> Result<OutgoingMessage> {
        Ok(OutgoingMessage {
            id: uid(&self.id)?,
            organization_id: uid(&self.organization_id)?,
            project_id: uid(&self.project_id)?,
            compliance_request_id: uid(&self.compliance_request_id)?,
            kind: MessageKind::parse(&self.kind),
            channel: Channel::parse(&self.channel),
            recipient: self.recipient,
            payload: serde_json::from_str(&self.payload).map_err(StoreError::backend)?,
            attempts: self.attempts,
            next_attempt_at: self.next_attempt_at,
            date_created: self.date_created,
        })
    }
}

// ---------------------------------------------------------------------------------------
// Jobs and purge

#[derive(FromRow)]
struct DueRow {
    id: String,
    organization_id: String,
    project_id: String,
}

/// Requests whose files are due for purging (§3.8).
pub(crate) async fn due_purges(
    s: &SqlStore,
    now: i64,
    limit: u64,
) -> Result<Vec<(Uuid, Uuid, Uuid)>> {
    if s.db.backend == crate::Backend::Postgres {
        // The purge runs once per period across servers: the time to fold the request
        // counters of database sessions that have ended (migration 9).
        sqlx::query("SELECT compliance_request_counts_fold()")
            .execute(&s.db.write)
            .await
            .map_err(db_err)?;
    }
    let mut q = Query::select();
    q.columns(["id", "organization_id", "project_id"].map(a))
        .from(a("compliance_requests"))
        .and_where(Expr::col(a("file_purge_date")).lte(now))
        .and_where(Expr::col(a("files")).ne("[]"))
        .order_by(a("file_purge_date"), Order::Asc)
        .limit(limit);
    let rows: Vec<DueRow> = all(&s.db, &s.db.read, &q).await?;
    rows.into_iter()
        .map(|r| Ok((uid(&r.organization_id)?, uid(&r.project_id)?, uid(&r.id)?)))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Site creation limits (§1.6)

#[derive(FromRow)]
struct CountRow {
    n: i64,
    oldest: Option<i64>,
}

async fn window(s: &SqlStore, cond: Cond) -> Result<(i64, Option<i64>)> {
    let mut q = Query::select();
    q.expr_as(Expr::col(a("id")).count(), a("n"))
        .expr_as(Func::min(Expr::col(a("date_created"))), a("oldest"))
        .from(a("compliance_requests"))
        .cond_where(cond);
    let row: Option<CountRow> = one(&s.db, &s.db.read, &q).await?;
    Ok(row.map(|r| (r.n, r.oldest)).unwrap_or((0, None)))
}

/// Site-filed requests in the last hour from one client IP (any project) and for one
/// email in one project.
pub(crate) async fn site_create_counts(
    s: &SqlStore,
    project: Uuid,
    ip: Option<&str>,
    email_lower: &str,
    since: i64,
) -> Result<SiteCreateCounts> {
    let by_ip = match ip {
        Some(ip) => {
            window(
                s,
                Cond::all()
                    .add(Expr::col(a("session_ip_address")).eq(ip))
                    .add(Expr::col(a("date_created")).gt(since))
                    .add(Expr::col(a("session_id")).is_not_null()),
            )
            .await?
        }
        None => (0, None),
    };
    let by_email = window(
        s,
        Cond::all()
            .add(Expr::col(a("project_id")).eq(project.to_string()))
            .add(Expr::col(a("user_email_lower")).eq(email_lower))
            .add(Expr::col(a("date_created")).gt(since))
            .add(Expr::col(a("session_id")).is_not_null()),
    )
    .await?;
    Ok(SiteCreateCounts {
        by_ip: by_ip.0,
        oldest_by_ip: by_ip.1,
        by_email: by_email.0,
        oldest_by_email: by_email.1,
    })
}

// ---------------------------------------------------------------------------------------
// Send-from emails (§7.6)

#[derive(FromRow)]
struct EmailRow {
    id: String,
    organization_id: String,
    email: String,
    name: Option<String>,
    date_created: i64,
    date_updated: i64,
}

const EMAIL_COLUMNS: [&str; 6] = [
    "id",
    "organization_id",
    "email",
    "name",
    "date_created",
    "date_updated",
];

impl EmailRow {
    fn into_model(self) -> Result<SendFromEmail> {
        Ok(SendFromEmail {
            id: uid(&self.id)?,
            organization_id: uid(&self.organization_id)?,
            email: self.email,
            name: self.name,
            date_created: self.date_created,
            date_updated: self.date_updated,
        })
    }
}

/// Fills `send_from` of projects that use one of their organization's addresses.
pub(crate) async fn attach_senders(
    s: &SqlStore,
    projects: &mut [accord_core::store::Project],
) -> Result<()> {
    let ids: Vec<String> = projects
        .iter()
        .filter(|p| p.send_from_email_id != "default")
        .map(|p| p.send_from_email_id.clone())
        .collect();
    if ids.is_empty() {
        return Ok(());
    }
    let mut q = Query::select();
    q.columns(EMAIL_COLUMNS.map(a))
        .from(a("send_from_emails"))
        .and_where(Expr::col(a("id")).is_in(ids));
    let rows: Vec<EmailRow> = all(&s.db, &s.db.read, &q).await?;
    for row in rows {
        let e = row.into_model()?;
        for p in projects.iter_mut() {
            if p.send_from_email_id == e.id.to_string() && p.organization_id == e.organization_id {
                p.send_from = Some(SendFrom {
                    email: e.email.clone(),
                    name: e.name.clone(),
                });
            }
        }
    }
    Ok(())
}

#[async_trait::async_trait]
impl MessageStore for SqlStore {
    /// Leases up to `limit` due messages to this server for `lease_ms`. Each lease is a
    /// compare-and-set, so two servers never send the same message at once.
    async fn claim_messages(
        &self,
        now: i64,
        lease_ms: i64,
        limit: u64,
    ) -> Result<Vec<accord_core::lifecycle::OutgoingMessage>> {
        let mut q = Query::select();
        q.columns(MESSAGE_COLUMNS.map(a))
            .from(a("outgoing_messages"))
            .and_where(Expr::col(a("status")).eq("pending"))
            .and_where(Expr::col(a("next_attempt_at")).lte(now))
            .and_where(Expr::col(a("claimed_until")).lte(now))
            .order_by(a("next_attempt_at"), Order::Asc)
            .limit(limit);
        let rows: Vec<MessageRow> = all(&self.db, &self.db.write, &q).await?;
        let mut out = Vec::new();
        for row in rows {
            let mut up = Query::update();
            up.table(a("outgoing_messages"))
                .value(a("claimed_until"), now + lease_ms)
                .and_where(Expr::col(a("id")).eq(row.id.clone()))
                .and_where(Expr::col(a("status")).eq("pending"))
                .and_where(Expr::col(a("claimed_until")).lte(now));
            if exec(&self.db, &self.db.write, &up).await? == 1 {
                out.push(row.into_model()?);
            }
        }
        Ok(out)
    }

    /// Records a delivery attempt, and for verification messages the `verification_sent`
    /// event: on delivery, and on the first failure (later failures only reschedule).
    async fn finish_message(
        &self,
        msg: &accord_core::lifecycle::OutgoingMessage,
        outcome: &accord_core::store::Delivery,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        let mut up = Query::update();
        up.table(a("outgoing_messages"))
            .value(a("attempts"), msg.attempts + 1)
            .value(a("claimed_until"), 0i64)
            .and_where(Expr::col(a("id")).eq(msg.id.to_string()));
        let delivered = matches!(outcome, Delivery::Sent);
        match outcome {
            Delivery::Sent => {
                up.value(a("status"), "sent")
                    .value(a("date_sent"), now)
                    .value(a("payload"), lifecycle::redacted(&msg.payload).to_string());
            }
            Delivery::Retry { error, at } => {
                up.value(a("next_attempt_at"), *at)
                    .value(a("last_error"), error.clone());
            }
            Delivery::GiveUp { error } => {
                up.value(a("status"), "failed")
                    .value(a("last_error"), error.clone());
            }
        }
        exec(&self.db, &mut *tx, &up).await?;
        if msg.kind == MessageKind::Verification && (delivered || msg.attempts == 0) {
            let mut q = Query::select();
            q.columns(CR_COLUMNS.map(a))
                .from(a("compliance_requests"))
                .and_where(Expr::col(a("id")).eq(msg.compliance_request_id.to_string()));
            let row: Option<CrRow> = one(&self.db, &mut *tx, &q).await?;
            if let Some(row) = row {
                let cr = row.into_model()?;
                let event: NewEvent = lifecycle::verification_sent(msg, delivered);
                self.insert_events(&mut tx, &cr, Actor { account_id: None }, &[event], now)
                    .await?;
            }
        }
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    /// Messages not yet delivered nor given up.
    async fn message_backlog(&self) -> Result<i64> {
        let mut q = Query::select();
        q.expr(Expr::col(Asterisk).count())
            .from(a("outgoing_messages"))
            .and_where(Expr::col(a("status")).eq("pending"));
        read_count(&self.db, &q).await
    }

    /// Claims the run of job `name` due at `now`: true for exactly one caller per period, even
    /// with several servers on one database.
    async fn claim_job(&self, name: &str, now: i64, period_ms: i64, owner: &str) -> Result<bool> {
        let mut ins = Query::insert();
        ins.into_table(a("job_runs"))
            .columns(["name", "next_run_at", "claimed_by"].map(a))
            .values_panic([name.into(), 0i64.into(), Option::<String>::None.into()])
            .on_conflict(OnConflict::column(a("name")).do_nothing().to_owned());
        exec(&self.db, &self.db.write, &ins).await?;
        let mut up = Query::update();
        up.table(a("job_runs"))
            .value(a("next_run_at"), now + period_ms)
            .value(a("claimed_by"), owner)
            .and_where(Expr::col(a("name")).eq(name))
            .and_where(Expr::col(a("next_run_at")).lte(now));
        Ok(exec(&self.db, &self.db.write, &up).await? == 1)
    }

    async fn list_send_from_emails(
        &self,
        org: Uuid,
        email: Option<&str>,
        page: &Page,
    ) -> Result<(i64, Vec<accord_core::store::SendFromEmail>)> {
        let mut cond = Cond::all().add(Expr::col(a("organization_id")).eq(org.to_string()));
        if let Some(e) = email {
            cond = cond.add(contains_ci("email_lower", e));
        }
        let sort = if page.sort == "email" {
            ("email_lower", true, false)
        } else {
            ("date_created", false, false)
        };
        let (total, rows): (i64, Vec<EmailRow>) =
            page_of(self, "send_from_emails", &EMAIL_COLUMNS, cond, sort, page).await?;
        Ok((
            total,
            rows.into_iter()
                .map(EmailRow::into_model)
                .collect::<Result<_>>()?,
        ))
    }

    async fn get_send_from_email(
        &self,
        org: Uuid,
        id: Uuid,
    ) -> Result<Option<accord_core::store::SendFromEmail>> {
        let mut q = Query::select();
        q.columns(EMAIL_COLUMNS.map(a))
            .from(a("send_from_emails"))
            .and_where(Expr::col(a("organization_id")).eq(org.to_string()))
            .and_where(Expr::col(a("id")).eq(id.to_string()));
        let row: Option<EmailRow> = one(&self.db, &self.db.read, &q).await?;
        row.map(EmailRow::into_model).transpose()
    }

    async fn create_send_from_email(&self, e: &accord_core::store::SendFromEmail) -> Result<()> {
        let mut q = Query::insert();
        q.into_table(a("send_from_emails"))
            .columns(
                [
                    "id",
                    "organization_id",
                    "email",
                    "email_lower",
                    "name",
                    "date_created",
                    "date_updated",
                ]
                .map(a),
            )
            .values_panic([
                e.id.to_string().into(),
                e.organization_id.to_string().into(),
                e.email.clone().into(),
                e.email.to_lowercase().into(),
                e.name.clone().into(),
                e.date_created.into(),
                e.date_updated.into(),
            ]);
        let (sql, values) = self.db.sql(&q);
        match sqlx::query_with(&sql, values).execute(&self.db.write).await {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(StoreError::Duplicate(Key::SendFromEmail)),
            Err(e) => Err(db_err(e)),
        }
    }

    async fn update_send_from_email(&self, e: &accord_core::store::SendFromEmail) -> Result<()> {
        let mut q = Query::update();
        q.table(a("send_from_emails"))
            .value(a("name"), e.name.clone())
            .value(a("date_updated"), e.date_updated)
            .and_where(Expr::col(a("id")).eq(e.id.to_string()))
            .and_where(Expr::col(a("organization_id")).eq(e.organization_id.to_string()));
        let _clear = ClearOnDrop(|| self.caches.clear_projects());
        exec(&self.db, &self.db.write, &q).await.map(|_| ())
    }

    /// Deletes an address; projects that used it go back to the server sender.
    async fn delete_send_from_email(&self, org: Uuid, id: Uuid) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        let mut q = Query::update();
        q.table(a("projects"))
            .value(a("send_from_email_id"), "default")
            .value(a("date_updated"), accord_core::time::now_ms())
            .and_where(Expr::col(a("organization_id")).eq(org.to_string()))
            .and_where(Expr::col(a("send_from_email_id")).eq(id.to_string()));
        exec(&self.db, &mut *tx, &q).await?;
        let mut d = Query::delete();
        d.from_table(a("send_from_emails"))
            .and_where(Expr::col(a("organization_id")).eq(org.to_string()))
            .and_where(Expr::col(a("id")).eq(id.to_string()));
        exec(&self.db, &mut *tx, &d).await?;
        let _clear = ClearOnDrop(|| self.caches.clear_projects());
        tx.commit().await.map_err(db_err)
    }
}
