//! Usage metrics (§7.10): the [`MetricsStore`] of SQLite and PostgreSQL. Each count is one
//! grouped query over the months asked for, bucketed by a `CASE` over the month starts so
//! that both databases count the same UTC calendar months.
use super::*;
use accord_core::metrics::{MonthCounts, ReadCount};
use sea_query::OnConflict;

/// The index of the month holding `col`, among the months between consecutive `bounds`.
fn bucket(col: &str, bounds: &[i64]) -> SimpleExpr {
    let mut sql = String::from("CAST(CASE");
    for (i, b) in bounds.iter().enumerate().skip(1) {
        sql.push_str(&format!(" WHEN {col} < {b} THEN {}", i - 1));
    }
    sql.push_str(&format!(" ELSE {} END AS BIGINT)", bounds.len()));
    Expr::cust(sql)
}

/// `SELECT project_id, <bucket> AS bucket, <extra>, <aggregate> AS n` over the rows of
/// `table` whose `col` falls in the months, grouped by project, month and `extra`.
fn grouped(
    table: &str,
    col: &str,
    org: Uuid,
    projects: &[Uuid],
    bounds: &[i64],
    extra: Option<&str>,
    aggregate: &str,
) -> sea_query::SelectStatement {
    let mut q = Query::select();
    q.column(a("project_id"))
        .expr_as(bucket(col, bounds), a("bucket"));
    match extra {
        Some(e) => q.expr_as(Expr::col(a(e)), a("extra")),
        None => q.expr_as(Expr::cust("''"), a("extra")),
    };
    q.expr_as(Expr::cust(aggregate), a("n"))
        .from(a(table))
        .and_where(Expr::col(a("organization_id")).eq(org.to_string()))
        .and_where(Expr::col(a("project_id")).is_in(projects.iter().map(|p| p.to_string())))
        .and_where(Expr::col(a(col)).gte(bounds[0]))
        .and_where(Expr::col(a(col)).lt(bounds[bounds.len() - 1]))
        .group_by_col(a("project_id"))
        .group_by_col(a("bucket"));
    if let Some(e) = extra {
        q.group_by_col(a(e));
    }
    q
}

/// The counts of one project and month, if asked for.
fn slot<'m>(
    out: &'m mut HashMap<Uuid, Vec<MonthCounts>>,
    project: &str,
    bucket: i64,
) -> Result<Option<&'m mut MonthCounts>> {
    let p = uid(project)?;
    Ok(out
        .get_mut(&p)
        .and_then(|v| v.get_mut(usize::try_from(bucket).ok()?)))
}

#[derive(FromRow)]
struct Grouped {
    project_id: String,
    bucket: i64,
    extra: String,
    n: i64,
}

#[derive(FromRow)]
struct SessionCounts {
    project_id: String,
    bucket: i64,
    n: i64,
    u: i64,
}

#[async_trait::async_trait]
impl MetricsStore for SqlStore {
    async fn month_counts(
        &self,
        org: Uuid,
        projects: &[Uuid],
        bounds: &[i64],
    ) -> Result<HashMap<Uuid, Vec<MonthCounts>>> {
        let months = bounds.len().saturating_sub(1);
        let mut out: HashMap<Uuid, Vec<MonthCounts>> = projects
            .iter()
            .map(|p| (*p, vec![MonthCounts::default(); months]))
            .collect();
        if months == 0 || projects.is_empty() {
            return Ok(out);
        }
        let db = &self.db;
        let q = grouped(
            "compliance_requests",
            "request_date",
            org,
            projects,
            bounds,
            Some("status"),
            "COUNT(*)",
        );
        for r in all::<Grouped, _>(db, &db.read, &q).await? {
            if let Some(c) = slot(&mut out, &r.project_id, r.bucket)? {
                *c.requests_by_status.entry(r.extra).or_default() += r.n;
            }
        }
        let mut q = grouped(
            "compliance_request_events",
            "date_created",
            org,
            projects,
            bounds,
            Some("details"),
            "COUNT(*)",
        );
        q.and_where(Expr::col(a("event")).eq("status_changed"));
        for r in all::<Grouped, _>(db, &db.read, &q).await? {
            let details: serde_json::Value =
                serde_json::from_str(&r.extra).map_err(StoreError::backend)?;
            let Some(to) = details.get("to").and_then(|v| v.as_str()) else {
                continue;
            };
            if let Some(c) = slot(&mut out, &r.project_id, r.bucket)? {
                *c.state_changed.entry(to.to_string()).or_default() += r.n;
            }
        }
        let q = grouped(
            "consent_events",
            "date_created",
            org,
            projects,
            bounds,
            None,
            "COUNT(*)",
        );
        for r in all::<Grouped, _>(db, &db.read, &q).await? {
            if let Some(c) = slot(&mut out, &r.project_id, r.bucket)? {
                c.consent_events += r.n;
            }
        }
        let q = grouped(
            "consent_reads",
            "period",
            org,
            projects,
            bounds,
            None,
            "CAST(SUM(n) AS BIGINT)",
        );
        for r in all::<Grouped, _>(db, &db.read, &q).await? {
            if let Some(c) = slot(&mut out, &r.project_id, r.bucket)? {
                c.consent_reads += r.n;
            }
        }
        let mut q = grouped(
            "sessions",
            "date_created",
            org,
            projects,
            bounds,
            None,
            "COUNT(*)",
        );
        q.expr_as(Expr::cust("COUNT(DISTINCT concord_id)"), a("u"));
        for r in all::<SessionCounts, _>(db, &db.read, &q).await? {
            if let Some(c) = slot(&mut out, &r.project_id, r.bucket)? {
                c.sessions += r.n;
                c.unique_sessions += r.u;
            }
        }
        Ok(out)
    }

    async fn add_consent_reads(&self, counts: &[ReadCount]) -> Result<()> {
        if counts.is_empty() {
            return Ok(());
        }
        let mut q = Query::insert();
        q.into_table(a("consent_reads"))
            .columns(["project_id", "period", "organization_id", "n"].map(a));
        for c in counts {
            q.values_panic([
                c.project_id.to_string().into(),
                c.period.into(),
                c.organization_id.to_string().into(),
                c.reads.into(),
            ]);
        }
        q.on_conflict(
            OnConflict::columns([a("project_id"), a("period")])
                .value(a("n"), Expr::cust("consent_reads.n + excluded.n"))
                .to_owned(),
        );
        exec(&self.db, &self.db.write, &q).await.map(|_| ())
    }
}
