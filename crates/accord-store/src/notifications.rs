//! The team's notification emails ([`NotificationStore`]) on SQLite and PostgreSQL: who
//! opted in (`team_notification_optins`) and which daily digests were queued
//! (`team_digests`).
use super::*;
use crate::db::db_err;
use accord_core::lifecycle::OutgoingMessage;
use accord_core::store::{DueRequest, NotificationStore};
use sea_query::OnConflict;

/// Open requests, written as literals so that SQLite and PostgreSQL's generic plans can use
/// the partial index `compliance_requests_open_due` (a bound `status IN (?, ?)` cannot).
const OPEN: &str = "status IN ('submitted', 'acknowledged')";
/// The `job_runs` row whose `next_run_at` is the first UTC day (days since 1970-01-01) whose
/// digests are not all queued yet.
const DIGEST_DAY_JOB: &str = "team_digest_day";

#[derive(FromRow)]
struct DueRow {
    id: String,
    organization_id: String,
    project_id: String,
    request: String,
    due_date: i64,
}

#[async_trait::async_trait]
impl NotificationStore for SqlStore {
    async fn team_optins(&self, org: Uuid) -> Result<Vec<Uuid>> {
        let ticket = match self.caches.optins.get(&org) {
            Ok(ids) => return Ok(ids),
            Err(ticket) => ticket,
        };
        let mut q = Query::select();
        q.column(a("user_id"))
            .from(a("team_notification_optins"))
            .and_where(Expr::col(a("organization_id")).eq(org.to_string()));
        let rows: Vec<(String,)> = all(&self.db, &self.db.read, &q).await?;
        let ids = rows
            .iter()
            .map(|(id,)| uid(id))
            .collect::<Result<Vec<_>>>()?;
        self.caches.optins.fill(ticket, org, ids.clone());
        Ok(ids)
    }

    async fn set_team_optin(&self, org: Uuid, user: Uuid, on: bool, now: i64) -> Result<()> {
        if on {
            let mut q = Query::insert();
            q.into_table(a("team_notification_optins"))
                .columns(["organization_id", "user_id", "date_created"].map(a))
                .values_panic([org.to_string().into(), user.to_string().into(), now.into()])
                .on_conflict(
                    OnConflict::columns([a("organization_id"), a("user_id")])
                        .do_nothing()
                        .to_owned(),
                );
            exec(&self.db, &self.db.write, &q).await?;
        } else {
            let mut q = Query::delete();
            q.from_table(a("team_notification_optins"))
                .and_where(Expr::col(a("organization_id")).eq(org.to_string()))
                .and_where(Expr::col(a("user_id")).eq(user.to_string()));
            exec(&self.db, &self.db.write, &q).await?;
        }
        self.caches.optins.clear();
        Ok(())
    }

    async fn projects_with_open_requests_due(&self, before: i64) -> Result<Vec<(Uuid, Uuid)>> {
        // One probe of the partial index per project, not a scan of the open requests.
        let mut open = Query::select();
        open.expr(Expr::val(1))
            .from(a("compliance_requests"))
            .and_where(
                Expr::col((a("compliance_requests"), a("project_id")))
                    .equals((a("projects"), a("id"))),
            )
            .and_where(Expr::cust(OPEN))
            .and_where(Expr::col((a("compliance_requests"), a("due_date"))).lt(before));
        let mut q = Query::select();
        q.columns(["organization_id", "id"].map(a))
            .from(a("projects"))
            .and_where(Expr::exists(open))
            .order_by(a("id"), Order::Asc);
        let rows: Vec<(String, String)> = all(&self.db, &self.db.read, &q).await?;
        rows.iter()
            .map(|(org, id)| Ok((uid(org)?, uid(id)?)))
            .collect()
    }

    async fn open_requests_due(
        &self,
        project: Uuid,
        from: i64,
        before: i64,
        limit: u64,
    ) -> Result<(u64, Vec<DueRequest>)> {
        let due = |q: &mut sea_query::SelectStatement| {
            q.from(a("compliance_requests"))
                .and_where(Expr::col(a("project_id")).eq(project.to_string()))
                .and_where(Expr::cust(OPEN))
                .and_where(Expr::col(a("due_date")).gte(from))
                .and_where(Expr::col(a("due_date")).lt(before));
        };
        let mut n = Query::select();
        n.expr(Expr::cust("COUNT(*)"));
        due(&mut n);
        let total = read_count(&self.db, &n).await?;
        if total == 0 {
            return Ok((0, vec![]));
        }
        let mut q = Query::select();
        q.columns(["id", "organization_id", "project_id", "request", "due_date"].map(a));
        due(&mut q);
        q.order_by(a("due_date"), Order::Asc)
            .order_by(a("id"), Order::Asc)
            .limit(limit);
        let rows: Vec<DueRow> = all(&self.db, &self.db.read, &q).await?;
        let rows = rows
            .into_iter()
            .map(|r| {
                Ok(DueRequest {
                    id: uid(&r.id)?,
                    organization_id: uid(&r.organization_id)?,
                    project_id: uid(&r.project_id)?,
                    request: r.request,
                    due_date: r.due_date,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((total.max(0) as u64, rows))
    }

    async fn digest_day_done(&self, day: i64) -> Result<bool> {
        let mut q = Query::select();
        q.expr(Expr::cust("COUNT(*)"))
            .from(a("job_runs"))
            .and_where(Expr::col(a("name")).eq(DIGEST_DAY_JOB))
            .and_where(Expr::col(a("next_run_at")).gt(day));
        Ok(read_count(&self.db, &q).await? > 0)
    }

    async fn set_digest_day_done(&self, day: i64) -> Result<()> {
        let mut ins = Query::insert();
        ins.into_table(a("job_runs"))
            .columns(["name", "next_run_at", "claimed_by"].map(a))
            .values_panic([
                DIGEST_DAY_JOB.into(),
                (day + 1).into(),
                Option::<String>::None.into(),
            ])
            .on_conflict(
                OnConflict::column(a("name"))
                    .update_column(a("next_run_at"))
                    .to_owned(),
            );
        exec(&self.db, &self.db.write, &ins).await?;
        Ok(())
    }

    async fn queue_digest(
        &self,
        recipient: &str,
        organization: Uuid,
        day: i64,
        message: &OutgoingMessage,
    ) -> Result<bool> {
        let mut tx = self.db.begin_write().await?;
        let mut q = Query::insert();
        q.into_table(a("team_digests"))
            .columns(["recipient", "organization_id", "day", "date_created"].map(a))
            .values_panic([
                recipient.to_lowercase().into(),
                organization.to_string().into(),
                day.into(),
                message.date_created.into(),
            ])
            .on_conflict(
                OnConflict::columns([a("recipient"), a("organization_id"), a("day")])
                    .do_nothing()
                    .to_owned(),
            );
        if exec(&self.db, &mut *tx, &q).await? == 0 {
            return Ok(false);
        }
        crate::lifecycle::insert_message(self, &mut tx, message).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(true)
    }
}
