//! Trackers, detections and scans of a project (§5.7, §8.2, §8.3): the [`TrackerStore`] of
//! SQLite and PostgreSQL.
use crate::cache::ClearOnDrop;
use crate::db::{db_err, is_unique_violation};
use crate::paging::{contains_ci, page_of};
use crate::{a, all, exec, one, uid, SqlStore};
use accord_core::gcm::{GcmScan, GcmScanFilter};
use accord_core::query::Page;
use accord_core::scans::{Scan, ScanResults, ScanSchedule, HISTORY_KEPT};
use accord_core::store::{Entity, Key, StoreError, StoreResult as Result, TrackerStore};
use accord_core::trackers::{DetectionPlan, Tracker, TrackerFilter, Write};
use sea_query::{Cond, Expr, OnConflict, Order, Query, SimpleExpr};
use sqlx::FromRow;
use uuid::Uuid;

const TRACKER_COLUMNS: [&str; 17] = [
    "id",
    "organization_id",
    "project_id",
    "name",
    "type",
    "category",
    "origin",
    "company",
    "description",
    "domain",
    "domain_key",
    "pattern",
    "expiration",
    "detected_name",
    "date_detected",
    "date_created",
    "date_updated",
];

/// Rows per insert statement (17 values each).
const INSERT_CHUNK: usize = 500;

#[derive(FromRow)]
struct TrackerRow {
    id: String,
    organization_id: String,
    project_id: String,
    name: String,
    #[sqlx(rename = "type")]
    tracker_type: String,
    category: String,
    origin: String,
    company: Option<String>,
    description: Option<String>,
    domain: Option<String>,
    pattern: Option<String>,
    expiration: Option<i64>,
    detected_name: Option<String>,
    date_detected: Option<i64>,
    date_created: i64,
    date_updated: i64,
}

impl TrackerRow {
    fn into_model(self) -> Result<Tracker> {
        Ok(Tracker {
            id: uid(&self.id)?,
            organization_id: uid(&self.organization_id)?,
            project_id: uid(&self.project_id)?,
            name: self.name,
            tracker_type: self.tracker_type,
            category: self.category,
            origin: self.origin,
            company: self.company,
            description: self.description,
            domain: self.domain,
            pattern: self.pattern,
            expiration: self.expiration,
            detected_name: self.detected_name,
            date_detected: self.date_detected,
            date_created: self.date_created,
            date_updated: self.date_updated,
        })
    }
}

fn values(t: &Tracker) -> Vec<SimpleExpr> {
    vec![
        t.id.to_string().into(),
        t.organization_id.to_string().into(),
        t.project_id.to_string().into(),
        t.name.clone().into(),
        t.tracker_type.clone().into(),
        t.category.clone().into(),
        t.origin.clone().into(),
        t.company.clone().into(),
        t.description.clone().into(),
        t.domain.clone().into(),
        t.domain.clone().unwrap_or_default().into(),
        t.pattern.clone().into(),
        t.expiration.into(),
        t.detected_name.clone().into(),
        t.date_detected.into(),
        t.date_created.into(),
        t.date_updated.into(),
    ]
}

fn in_project(project: Uuid) -> SimpleExpr {
    Expr::col(a("project_id")).eq(project.to_string())
}

fn duplicate_is(key: Key) -> impl Fn(sqlx::Error) -> StoreError {
    move |e| {
        if is_unique_violation(&e) {
            StoreError::Duplicate(key)
        } else {
            db_err(e)
        }
    }
}

fn update_statement(t: &Tracker) -> sea_query::UpdateStatement {
    let mut q = Query::update();
    q.table(a("trackers"))
        .values(
            TRACKER_COLUMNS
                .iter()
                .zip(values(t))
                .filter(|(c, _)| {
                    ![
                        "id",
                        "organization_id",
                        "project_id",
                        "date_created",
                        "detected_name",
                    ]
                    .contains(*c)
                })
                .map(|(c, v)| (a(c), v)),
        )
        .and_where(in_project(t.project_id))
        .and_where(Expr::col(a("id")).eq(t.id.to_string()));
    q
}

#[derive(FromRow)]
struct ScheduleRow {
    project_id: String,
    organization_id: String,
    enabled: i64,
    period: String,
    hour: i64,
    day_of_week: i64,
    day_of_month: i64,
    next_run: Option<i64>,
}

const SCHEDULE_COLUMNS: [&str; 8] = [
    "project_id",
    "organization_id",
    "enabled",
    "period",
    "hour",
    "day_of_week",
    "day_of_month",
    "next_run",
];

impl ScheduleRow {
    fn into_model(self) -> Result<ScanSchedule> {
        Ok(ScanSchedule {
            organization_id: uid(&self.organization_id)?,
            project_id: uid(&self.project_id)?,
            enabled: self.enabled != 0,
            period: self.period,
            hour: self.hour as u32,
            day_of_week: self.day_of_week as u32,
            day_of_month: self.day_of_month as u32,
            next_run: self.next_run,
        })
    }
}

#[derive(FromRow)]
struct ScanRow {
    id: String,
    organization_id: String,
    project_id: String,
    date: i64,
    status: String,
    scan_type: String,
    domains_count: i64,
    results: String,
}

const SCAN_COLUMNS: [&str; 8] = [
    "id",
    "organization_id",
    "project_id",
    "date",
    "status",
    "scan_type",
    "domains_count",
    "results",
];

#[derive(FromRow)]
struct GcmScanRow {
    id: String,
    organization_id: String,
    project_id: String,
    scan_type: String,
    url: Option<String>,
    status: String,
    date_created: i64,
    date_completed: Option<i64>,
    results: String,
    error: Option<String>,
}

const GCM_COLUMNS: [&str; 10] = [
    "id",
    "organization_id",
    "project_id",
    "scan_type",
    "url",
    "status",
    "date_created",
    "date_completed",
    "results",
    "error",
];

impl GcmScanRow {
    fn into_model(self) -> Result<GcmScan> {
        Ok(GcmScan {
            id: uid(&self.id)?,
            organization_id: uid(&self.organization_id)?,
            project_id: uid(&self.project_id)?,
            scan_type: self.scan_type,
            url: self.url,
            status: self.status,
            date_created: self.date_created,
            date_completed: self.date_completed,
            results: serde_json::from_str(&self.results).map_err(StoreError::backend)?,
            error: self.error,
        })
    }
}

fn gcm_results_json(s: &GcmScan) -> Result<String> {
    serde_json::to_string(&s.results).map_err(StoreError::backend)
}

impl ScanRow {
    fn into_model(self) -> Result<Scan> {
        let results: ScanResults =
            serde_json::from_str(&self.results).map_err(StoreError::backend)?;
        Ok(Scan {
            id: uid(&self.id)?,
            organization_id: uid(&self.organization_id)?,
            project_id: uid(&self.project_id)?,
            date: self.date,
            status: self.status,
            scan_type: self.scan_type,
            domains_count: self.domains_count,
            results,
        })
    }
}

fn results_json(r: &ScanResults) -> Result<String> {
    serde_json::to_string(r).map_err(StoreError::backend)
}

#[async_trait::async_trait]
impl TrackerStore for SqlStore {
    async fn tracker_category_counts(&self, project: Uuid) -> Result<Vec<(String, i64)>> {
        #[derive(FromRow)]
        struct Counted {
            category: String,
            n: i64,
        }
        let mut q = Query::select();
        q.column(a("category"))
            .expr_as(Expr::col(a("id")).count(), a("n"))
            .from(a("trackers"))
            .and_where(in_project(project))
            .group_by_col(a("category"));
        let rows: Vec<Counted> = all(&self.db, &self.db.read, &q).await?;
        Ok(rows.into_iter().map(|r| (r.category, r.n)).collect())
    }

    async fn list_trackers(&self, f: &TrackerFilter, page: &Page) -> Result<(i64, Vec<Tracker>)> {
        let mut c = Cond::all().add(in_project(f.project_id));
        if let Some(n) = &f.name {
            c = c.add(contains_ci("name", n));
        }
        if let Some(n) = &f.company {
            c = c.add(contains_ci("company", n));
        }
        if let Some(d) = &f.domain {
            c = c.add(Expr::col(a("domain")).eq(d.to_ascii_lowercase()));
        }
        if let Some(v) = &f.category {
            c = c.add(Expr::col(a("category")).is_in(v.iter().cloned()));
        }
        if let Some(v) = &f.tracker_type {
            c = c.add(Expr::col(a("type")).is_in(v.iter().cloned()));
        }
        if let Some(o) = &f.origin {
            c = c.add(Expr::col(a("origin")).eq(o.clone()));
        }
        let sort = match page.sort.as_str() {
            "dateUpdated" => ("date_updated", false, false),
            "dateDetected" => ("date_detected", false, true),
            "name" => ("name", true, false),
            "category" => ("category", true, false),
            "type" => ("type", true, false),
            _ => ("date_created", false, false),
        };
        let (total, rows): (i64, Vec<TrackerRow>) =
            page_of(self, "trackers", &TRACKER_COLUMNS, c, sort, page).await?;
        Ok((
            total,
            rows.into_iter()
                .map(TrackerRow::into_model)
                .collect::<Result<_>>()?,
        ))
    }

    async fn project_trackers(&self, projects: &[Uuid]) -> Result<Vec<Tracker>> {
        if projects.is_empty() {
            return Ok(vec![]);
        }
        let mut q = Query::select();
        q.columns(TRACKER_COLUMNS.map(a))
            .from(a("trackers"))
            .and_where(Expr::col(a("project_id")).is_in(projects.iter().map(|p| p.to_string())))
            .order_by(a("date_created"), Order::Asc)
            .order_by(a("id"), Order::Asc);
        let rows: Vec<TrackerRow> = all(&self.db, &self.db.read, &q).await?;
        rows.into_iter().map(TrackerRow::into_model).collect()
    }

    async fn tracker_candidates(
        &self,
        project: Uuid,
        names: &[String],
        ids: &[Uuid],
        patterns: bool,
    ) -> Result<Vec<Tracker>> {
        let mut any = Cond::any();
        if !names.is_empty() {
            any = any.add(Expr::col(a("name")).is_in(names.iter().cloned()));
        }
        if !ids.is_empty() {
            any = any.add(Expr::col(a("id")).is_in(ids.iter().map(|i| i.to_string())));
        }
        if patterns {
            any = any.add(Expr::col(a("pattern")).is_not_null());
        }
        if any.is_empty() {
            return Ok(vec![]);
        }
        let mut q = Query::select();
        q.columns(TRACKER_COLUMNS.map(a))
            .from(a("trackers"))
            .and_where(in_project(project))
            .cond_where(any)
            .order_by(a("date_created"), Order::Asc)
            .order_by(a("id"), Order::Asc);
        let rows: Vec<TrackerRow> = all(&self.db, &self.db.read, &q).await?;
        rows.into_iter().map(TrackerRow::into_model).collect()
    }

    async fn get_tracker(&self, project: Uuid, id: Uuid) -> Result<Option<Tracker>> {
        let mut q = Query::select();
        q.columns(TRACKER_COLUMNS.map(a))
            .from(a("trackers"))
            .and_where(in_project(project))
            .and_where(Expr::col(a("id")).eq(id.to_string()));
        let row: Option<TrackerRow> = one(&self.db, &self.db.read, &q).await?;
        row.map(TrackerRow::into_model).transpose()
    }

    async fn write_trackers(&self, writes: &[Write]) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        // Updates first, so that a key moved away by an update is free for an insert.
        for w in writes {
            if let Write::Update(t) = w {
                let (sql, v) = self.db.sql(&update_statement(t));
                let n = sqlx::query_with(&sql, v)
                    .execute(&mut *tx)
                    .await
                    .map_err(duplicate_is(Key::Tracker))?
                    .rows_affected();
                if n == 0 {
                    return Err(StoreError::Missing(Entity::Row));
                }
            }
        }
        let inserts: Vec<&Tracker> = writes
            .iter()
            .filter_map(|w| match w {
                Write::Insert(t) => Some(t),
                Write::Update(_) => None,
            })
            .collect();
        for chunk in inserts.chunks(INSERT_CHUNK) {
            let mut q = Query::insert();
            q.into_table(a("trackers")).columns(TRACKER_COLUMNS.map(a));
            for t in chunk {
                q.values_panic(values(t));
            }
            let (sql, v) = self.db.sql(&q);
            sqlx::query_with(&sql, v)
                .execute(&mut *tx)
                .await
                .map_err(duplicate_is(Key::Tracker))?;
        }
        let done = tx.commit().await.map_err(db_err);
        self.caches.config_written();
        done
    }

    async fn update_tracker(&self, t: &Tracker) -> Result<()> {
        let (sql, v) = self.db.sql(&update_statement(t));
        let n = sqlx::query_with(&sql, v)
            .execute(&self.db.write)
            .await
            .map_err(duplicate_is(Key::Tracker))?
            .rows_affected();
        self.caches.config_written();
        if n == 0 {
            return Err(StoreError::Missing(Entity::Row));
        }
        Ok(())
    }

    async fn delete_tracker(&self, project: Uuid, id: Uuid) -> Result<()> {
        let mut q = Query::delete();
        q.from_table(a("trackers"))
            .and_where(in_project(project))
            .and_where(Expr::col(a("id")).eq(id.to_string()));
        let done = exec(&self.db, &self.db.write, &q).await.map(|_| ());
        self.caches.config_written();
        done
    }

    async fn record_detections(&self, project: Uuid, plan: &DetectionPlan, now: i64) -> Result<()> {
        if plan.seen.is_empty() && plan.new.is_empty() {
            return Ok(());
        }
        let mut tx = self.db.begin_write().await?;
        if !plan.seen.is_empty() {
            let mut q = Query::update();
            q.table(a("trackers"))
                .value(a("date_detected"), now)
                .and_where(in_project(project))
                .and_where(Expr::col(a("id")).is_in(plan.seen.iter().map(|id| id.to_string())));
            exec(&self.db, &mut *tx, &q).await?;
        }
        for chunk in plan.new.chunks(INSERT_CHUNK) {
            let mut q = Query::insert();
            q.into_table(a("trackers")).columns(TRACKER_COLUMNS.map(a));
            for t in chunk {
                q.values_panic(values(t));
            }
            // A tracker another report created meanwhile is one seen again.
            q.on_conflict(
                OnConflict::columns(["project_id", "type", "name", "domain_key"].map(a))
                    .update_column(a("date_detected"))
                    .to_owned(),
            );
            exec(&self.db, &mut *tx, &q).await?;
        }
        let done = tx.commit().await.map_err(db_err);
        // Only new trackers change what the site client embeds (`dateDetected` is not).
        if !plan.new.is_empty() {
            self.caches.config_written();
        }
        done
    }

    async fn set_last_real_time_scan(&self, project: Uuid, now: i64) -> Result<()> {
        #[derive(FromRow)]
        struct SettingsRow {
            settings: String,
        }
        let mut tx = self.db.begin_write().await?;
        let mut q = Query::select();
        q.column(a("settings"))
            .from(a("projects"))
            .and_where(Expr::col(a("id")).eq(project.to_string()));
        if self.db.locks_rows() {
            q.lock(sea_query::LockType::Update);
        }
        let Some(row): Option<SettingsRow> = one(&self.db, &mut *tx, &q).await? else {
            return Err(StoreError::Missing(Entity::Row));
        };
        let mut settings: serde_json::Value =
            serde_json::from_str(&row.settings).map_err(StoreError::backend)?;
        if !settings.is_object() {
            settings = serde_json::json!({});
        }
        let trackers = settings
            .as_object_mut()
            .expect("an object")
            .entry("trackers")
            .or_insert_with(|| serde_json::json!({}));
        if let Some(t) = trackers.as_object_mut() {
            t.insert("lastRealTimeScan".into(), now.into());
        }
        let mut up = Query::update();
        up.table(a("projects"))
            .value(a("settings"), settings.to_string())
            .and_where(Expr::col(a("id")).eq(project.to_string()));
        exec(&self.db, &mut *tx, &up).await?;
        let _clear = ClearOnDrop(|| self.caches.clear_projects());
        tx.commit().await.map_err(db_err)
    }

    async fn scan_schedule(&self, project: Uuid) -> Result<Option<ScanSchedule>> {
        let mut q = Query::select();
        q.columns(SCHEDULE_COLUMNS.map(a))
            .from(a("tracker_scan_schedules"))
            .and_where(in_project(project));
        let row: Option<ScheduleRow> = one(&self.db, &self.db.read, &q).await?;
        row.map(ScheduleRow::into_model).transpose()
    }

    async fn save_scan_schedule(&self, s: &ScanSchedule) -> Result<()> {
        let mut q = Query::insert();
        q.into_table(a("tracker_scan_schedules"))
            .columns(SCHEDULE_COLUMNS.map(a))
            .values_panic([
                s.project_id.to_string().into(),
                s.organization_id.to_string().into(),
                i64::from(s.enabled).into(),
                s.period.clone().into(),
                i64::from(s.hour).into(),
                i64::from(s.day_of_week).into(),
                i64::from(s.day_of_month).into(),
                s.next_run.into(),
            ])
            .on_conflict(
                OnConflict::column(a("project_id"))
                    .update_columns(SCHEDULE_COLUMNS[2..].iter().map(|c| a(c)))
                    .to_owned(),
            );
        exec(&self.db, &self.db.write, &q).await.map(|_| ())
    }

    async fn scan_history(&self, project: Uuid, limit: u64) -> Result<Vec<Scan>> {
        let mut q = Query::select();
        q.columns(SCAN_COLUMNS.map(a))
            .from(a("tracker_scans"))
            .and_where(in_project(project))
            .order_by(a("date"), Order::Desc)
            .order_by(a("id"), Order::Desc)
            .limit(limit);
        let rows: Vec<ScanRow> = all(&self.db, &self.db.read, &q).await?;
        rows.into_iter().map(ScanRow::into_model).collect()
    }

    async fn start_scan(&self, s: &Scan, lease_until: i64) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        let mut q = Query::insert();
        q.into_table(a("tracker_scans"))
            .columns(SCAN_COLUMNS.map(a).into_iter().chain([a("lease_until")]))
            .values_panic([
                s.id.to_string().into(),
                s.organization_id.to_string().into(),
                s.project_id.to_string().into(),
                s.date.into(),
                s.status.clone().into(),
                s.scan_type.clone().into(),
                s.domains_count.into(),
                results_json(&s.results)?.into(),
                lease_until.into(),
            ]);
        let (sql, v) = self.db.sql(&q);
        sqlx::query_with(&sql, v)
            .execute(&mut *tx)
            .await
            .map_err(duplicate_is(Key::RunningScan))?;
        let mut keep = Query::select();
        keep.column(a("id"))
            .from(a("tracker_scans"))
            .and_where(in_project(s.project_id))
            .order_by(a("date"), Order::Desc)
            .order_by(a("id"), Order::Desc)
            .limit(HISTORY_KEPT as u64);
        let mut trim = Query::delete();
        trim.from_table(a("tracker_scans"))
            .and_where(in_project(s.project_id))
            .and_where(Expr::col(a("id")).not_in_subquery(keep));
        exec(&self.db, &mut *tx, &trim).await?;
        tx.commit().await.map_err(db_err)
    }

    async fn renew_scan_lease(&self, project: Uuid, id: Uuid, lease_until: i64) -> Result<bool> {
        let mut q = Query::update();
        q.table(a("tracker_scans"))
            .value(a("lease_until"), lease_until)
            .and_where(in_project(project))
            .and_where(Expr::col(a("id")).eq(id.to_string()))
            .and_where(Expr::col(a("status")).eq("running"));
        Ok(exec(&self.db, &self.db.write, &q).await? == 1)
    }

    async fn finish_scan(&self, s: &Scan) -> Result<bool> {
        let mut q = Query::update();
        q.table(a("tracker_scans"))
            .value(a("status"), s.status.clone())
            .value(a("results"), results_json(&s.results)?)
            .and_where(in_project(s.project_id))
            .and_where(Expr::col(a("id")).eq(s.id.to_string()))
            .and_where(Expr::col(a("status")).eq("running"));
        Ok(exec(&self.db, &self.db.write, &q).await? == 1)
    }

    async fn fail_expired_scans(&self, now: i64) -> Result<u64> {
        let mut q = Query::update();
        q.table(a("tracker_scans"))
            .value(a("status"), "failed")
            .and_where(Expr::col(a("status")).eq("running"))
            .and_where(Expr::col(a("lease_until")).lt(now));
        let tracker_scans = exec(&self.db, &self.db.write, &q).await?;
        let mut g = Query::update();
        g.table(a("gcm_scans"))
            .value(a("status"), "failed")
            .value(a("date_completed"), now)
            .value(a("error"), "the server running the scan stopped")
            .and_where(Expr::col(a("status")).eq("running"))
            .and_where(Expr::col(a("lease_until")).lt(now));
        Ok(tracker_scans + exec(&self.db, &self.db.write, &g).await?)
    }

    async fn start_gcm_scan(&self, s: &GcmScan, lease_until: i64) -> Result<()> {
        let mut q = Query::insert();
        q.into_table(a("gcm_scans"))
            .columns(GCM_COLUMNS.map(a).into_iter().chain([a("lease_until")]))
            .values_panic([
                s.id.to_string().into(),
                s.organization_id.to_string().into(),
                s.project_id.to_string().into(),
                s.scan_type.clone().into(),
                s.url.clone().into(),
                s.status.clone().into(),
                s.date_created.into(),
                s.date_completed.into(),
                gcm_results_json(s)?.into(),
                s.error.clone().into(),
                lease_until.into(),
            ]);
        exec(&self.db, &self.db.write, &q).await.map(|_| ())
    }

    async fn finish_gcm_scan(&self, s: &GcmScan) -> Result<bool> {
        let mut q = Query::update();
        q.table(a("gcm_scans"))
            .value(a("status"), s.status.clone())
            .value(a("date_completed"), s.date_completed)
            .value(a("results"), gcm_results_json(s)?)
            .value(a("error"), s.error.clone())
            .and_where(in_project(s.project_id))
            .and_where(Expr::col(a("id")).eq(s.id.to_string()))
            .and_where(Expr::col(a("status")).eq("running"));
        Ok(exec(&self.db, &self.db.write, &q).await? == 1)
    }

    async fn get_gcm_scan(&self, project: Uuid, id: Uuid) -> Result<Option<GcmScan>> {
        let mut q = Query::select();
        q.columns(GCM_COLUMNS.map(a))
            .from(a("gcm_scans"))
            .and_where(in_project(project))
            .and_where(Expr::col(a("id")).eq(id.to_string()));
        let row: Option<GcmScanRow> = one(&self.db, &self.db.read, &q).await?;
        row.map(GcmScanRow::into_model).transpose()
    }

    async fn list_gcm_scans(&self, f: &GcmScanFilter, page: &Page) -> Result<(i64, Vec<GcmScan>)> {
        let mut c = Cond::all().add(in_project(f.project_id));
        if let Some(v) = &f.status {
            c = c.add(Expr::col(a("status")).is_in(v.iter().cloned()));
        }
        if let Some(v) = &f.scan_type {
            c = c.add(Expr::col(a("scan_type")).is_in(v.iter().cloned()));
        }
        let (total, rows): (i64, Vec<GcmScanRow>) = page_of(
            self,
            "gcm_scans",
            &GCM_COLUMNS,
            c,
            ("date_created", false, false),
            page,
        )
        .await?;
        Ok((
            total,
            rows.into_iter()
                .map(GcmScanRow::into_model)
                .collect::<Result<_>>()?,
        ))
    }

    async fn due_schedules(&self, now: i64, limit: u64) -> Result<Vec<ScanSchedule>> {
        let mut q = Query::select();
        q.columns(SCHEDULE_COLUMNS.map(a))
            .from(a("tracker_scan_schedules"))
            .and_where(Expr::col(a("next_run")).lte(now))
            .and_where(Expr::col(a("enabled")).eq(1i64))
            .order_by(a("next_run"), Order::Asc)
            .limit(limit);
        let rows: Vec<ScheduleRow> = all(&self.db, &self.db.read, &q).await?;
        rows.into_iter().map(ScheduleRow::into_model).collect()
    }

    async fn claim_schedule(&self, project: Uuid, due: i64, next: i64) -> Result<bool> {
        let mut q = Query::update();
        q.table(a("tracker_scan_schedules"))
            .value(a("next_run"), next)
            .and_where(in_project(project))
            .and_where(Expr::col(a("enabled")).eq(1i64))
            .and_where(Expr::col(a("next_run")).eq(due));
        Ok(exec(&self.db, &self.db.write, &q).await? == 1)
    }
}
