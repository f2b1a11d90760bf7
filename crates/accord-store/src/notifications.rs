//! The team's notification emails ([`NotificationStore`]) on SQLite and PostgreSQL: who
//! opted in (`team_notification_optins`) and which daily digests were queued
//! (`team_digests`).
use super::*;
use crate::db::db_err;
use accord_core::lifecycle::OutgoingMessage;
use accord_core::store::{DueRequest, NotificationStore};
use sea_query::OnConflict;

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
        let mut q = Query::select();
        q.column(a("user_id"))
            .from(a("team_notification_optins"))
            .and_where(Expr::col(a("organization_id")).eq(org.to_string()));
        let rows: Vec<(String,)> = all(&self.db, &self.db.read, &q).await?;
        rows.iter().map(|(id,)| uid(id)).collect()
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
        Ok(())
    }

    async fn open_requests_due(
        &self,
        from: i64,
        before: i64,
        limit: u64,
    ) -> Result<Vec<DueRequest>> {
        let mut q = Query::select();
        q.columns(["id", "organization_id", "project_id", "request", "due_date"].map(a))
            .from(a("compliance_requests"))
            .and_where(Expr::col(a("status")).is_in(["submitted", "acknowledged"]))
            .and_where(Expr::col(a("due_date")).gte(from))
            .and_where(Expr::col(a("due_date")).lt(before))
            .order_by(a("due_date"), Order::Asc)
            .order_by(a("id"), Order::Asc)
            .limit(limit);
        let rows: Vec<DueRow> = all(&self.db, &self.db.read, &q).await?;
        rows.into_iter()
            .map(|r| {
                Ok(DueRequest {
                    id: uid(&r.id)?,
                    organization_id: uid(&r.organization_id)?,
                    project_id: uid(&r.project_id)?,
                    request: r.request,
                    due_date: r.due_date,
                })
            })
            .collect()
    }

    async fn queue_digest(
        &self,
        recipient: &str,
        day: i64,
        message: &OutgoingMessage,
    ) -> Result<bool> {
        let mut tx = self.db.begin_write().await?;
        let mut q = Query::insert();
        q.into_table(a("team_digests"))
            .columns(["recipient", "day", "date_created"].map(a))
            .values_panic([
                recipient.to_lowercase().into(),
                day.into(),
                message.date_created.into(),
            ])
            .on_conflict(
                OnConflict::columns([a("recipient"), a("day")])
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
