//! Accord's storage on SQLite and PostgreSQL. Every statement is a sea-query statement
//! rendered per dialect by [`db::Db::sql`]; the differences between the two databases stay
//! in `db.rs`.
#![forbid(unsafe_code)]

mod cache;
mod consent;
mod datamap;
pub mod db;
mod lifecycle;
mod migrate;
mod rows;
mod site;

use accord_core::auth::{Permission, Principal, Role};
use accord_core::compliance::{
    self, Actor, ComplianceRequest, CreateComplianceRequest, DataSystemSummary, EventFilter,
    NewEvent, NewRequestContext, RequestEvent, RequestFilter,
};
use accord_core::ids::new_id;
use accord_core::query::Page;
use accord_core::store::{
    ApiKey, NewApiKey, NewOrganization, NewProject, Organization, Project, Store, UpdateFn,
};
use accord_core::time::now_ms;
use accord_core::{Error, Result};
use db::{db_err, is_unique_violation, Db};
use rows::*;
use sea_query::{Alias, Cond, Expr, Order, Query, SimpleExpr};
use sqlx::any::AnyRow;
use sqlx::{Any, FromRow};
use std::collections::HashMap;
use uuid::Uuid;

pub use db::Backend;

/// The SQL store behind `accord serve`.
#[derive(Clone)]
pub struct SqlStore {
    pub db: Db,
    caches: cache::Caches,
}

pub(crate) fn a(name: &str) -> Alias {
    Alias::new(name)
}

pub(crate) fn uid(s: &str) -> Result<Uuid> {
    Uuid::parse_str(s).map_err(Error::internal)
}

async fn all<'e, T, E>(db: &Db, ex: E, stmt: &impl sea_query_binder::SqlxBinder) -> Result<Vec<T>>
where
    E: sqlx::Executor<'e, Database = Any>,
    T: for<'r> FromRow<'r, AnyRow> + Send + Unpin,
{
    let (sql, values) = db.sql(stmt);
    sqlx::query_as_with::<_, T, _>(&sql, values)
        .fetch_all(ex)
        .await
        .map_err(db_err)
}

async fn one<'e, T, E>(
    db: &Db,
    ex: E,
    stmt: &impl sea_query_binder::SqlxBinder,
) -> Result<Option<T>>
where
    E: sqlx::Executor<'e, Database = Any>,
    T: for<'r> FromRow<'r, AnyRow> + Send + Unpin,
{
    let (sql, values) = db.sql(stmt);
    sqlx::query_as_with::<_, T, _>(&sql, values)
        .fetch_optional(ex)
        .await
        .map_err(db_err)
}

async fn exec<'e, E>(db: &Db, ex: E, stmt: &impl sea_query_binder::SqlxBinder) -> Result<u64>
where
    E: sqlx::Executor<'e, Database = Any>,
{
    let (sql, values) = db.sql(stmt);
    sqlx::query_with(&sql, values)
        .execute(ex)
        .await
        .map(|r| r.rows_affected())
        .map_err(db_err)
}

async fn count<'e, E>(db: &Db, ex: E, stmt: &impl sea_query_binder::SqlxBinder) -> Result<i64>
where
    E: sqlx::Executor<'e, Database = Any>,
{
    let (sql, values) = db.sql(stmt);
    sqlx::query_scalar_with::<_, i64, _>(&sql, values)
        .fetch_one(ex)
        .await
        .map_err(db_err)
}

fn slugify(name: &str) -> String {
    let mut s = String::new();
    for c in name.to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            s.push(c);
        } else if !s.ends_with('-') {
            s.push('-');
        }
    }
    let s = s.trim_matches('-').chars().take(60).collect::<String>();
    if s.len() < 2 {
        format!("{s}org").chars().take(60).collect()
    } else {
        s
    }
}

fn lower(col: &str) -> SimpleExpr {
    SimpleExpr::FunctionCall(sea_query::Func::lower(Expr::col(a(col))))
}

impl SqlStore {
    pub async fn connect(url: &str) -> Result<SqlStore> {
        Ok(SqlStore {
            db: Db::connect(url).await?,
            caches: cache::Caches::default(),
        })
    }

    pub async fn migrate(&self) -> Result<usize> {
        self.db.migrate().await
    }

    async fn unique_slug(
        &self,
        ex: &mut sqlx::AnyConnection,
        table: &str,
        scope: Option<(&str, Uuid)>,
        base: &str,
    ) -> Result<String> {
        let mut q = Query::select();
        q.column(a("slug"))
            .from(a(table))
            .and_where(Expr::col(a("slug")).like(format!("{base}%")));
        if let Some((col, id)) = scope {
            q.and_where(Expr::col(a(col)).eq(id.to_string()));
        }
        let taken: Vec<SlugRow> = all(&self.db, &mut *ex, &q).await?;
        let taken: Vec<String> = taken.into_iter().map(|r| r.slug).collect();
        if !taken.contains(&base.to_string()) {
            return Ok(base.to_string());
        }
        let mut n = 2;
        loop {
            let candidate = format!("{base}-{n}");
            if !taken.contains(&candidate) {
                return Ok(candidate);
            }
            n += 1;
        }
    }

    async fn insert_project(
        &self,
        ex: &mut sqlx::AnyConnection,
        org: Uuid,
        new: &NewProject,
        now: i64,
    ) -> Result<Project> {
        let slug = self
            .unique_slug(
                ex,
                "projects",
                Some(("organization_id", org)),
                &slugify(&new.name),
            )
            .await?;
        let mut settings = accord_core::store::default_settings();
        if let Some(s) = &new.settings {
            accord_core::admin::deep_merge(&mut settings, s);
        }
        let project = Project {
            id: new_id(),
            organization_id: org,
            name: new.name.clone(),
            slug,
            status: "active".into(),
            contact_emails: new.contact_emails.clone(),
            send_from_email_id: "default".into(),
            settings,
            privacy_policy_url: new.privacy_policy_url.clone(),
            terms_of_service_url: new.terms_of_service_url.clone(),
            date_created: now,
            date_updated: now,
            send_from: None,
        };
        let mut q = Query::insert();
        q.into_table(a("projects"))
            .columns(PROJECT_COLUMNS.iter().map(|c| a(c)))
            .values_panic(project_values(&project));
        exec(&self.db, &mut *ex, &q).await?;
        for d in &new.domains {
            let mut q = Query::insert();
            q.into_table(a("domains"))
                .columns(
                    [
                        "id",
                        "organization_id",
                        "project_id",
                        "domain",
                        "date_created",
                        "date_updated",
                    ]
                    .map(a),
                )
                .values_panic([
                    new_id().to_string().into(),
                    org.to_string().into(),
                    project.id.to_string().into(),
                    d.to_lowercase().into(),
                    now.into(),
                    now.into(),
                ]);
            exec(&self.db, &mut *ex, &q).await?;
        }
        consent::insert_default_consent_types(self, ex, &project).await?;
        Ok(project)
    }

    async fn load_permissions(
        &self,
        key_ids: &[String],
    ) -> Result<HashMap<String, Vec<Permission>>> {
        if key_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let mut q = Query::select();
        q.columns(["id", "api_key_id", "organization_id", "project_id", "role"].map(a))
            .from(a("api_key_permissions"))
            .and_where(Expr::col(a("api_key_id")).is_in(key_ids.iter().cloned()))
            .order_by(a("id"), Order::Asc);
        let rows: Vec<PermRow> = all(&self.db, &self.db.read, &q).await?;
        let mut out: HashMap<String, Vec<Permission>> = HashMap::new();
        for r in rows {
            let p = Permission {
                id: uid(&r.id)?,
                organization_id: uid(&r.organization_id)?,
                project_id: r.project_id.as_deref().map(uid).transpose()?,
                role: Role::parse(&r.role).unwrap_or(Role::None),
            };
            out.entry(r.api_key_id).or_default().push(p);
        }
        Ok(out)
    }

    async fn keys_from_rows(&self, rows: Vec<KeyRow>) -> Result<Vec<ApiKey>> {
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        let mut perms = self.load_permissions(&ids).await?;
        rows.into_iter()
            .map(|r| {
                Ok(ApiKey {
                    id: uid(&r.id)?,
                    organization_id: uid(&r.organization_id)?,
                    permissions: perms.remove(&r.id).unwrap_or_default(),
                    name: r.name,
                    role: Role::parse(&r.role).unwrap_or(Role::None),
                    prefix: r.prefix,
                    date_created: r.date_created,
                    date_updated: r.date_updated,
                })
            })
            .collect()
    }

    async fn write_permissions(
        &self,
        ex: &mut sqlx::AnyConnection,
        key: Uuid,
        perms: &[(Uuid, Option<Uuid>, Role)],
    ) -> Result<()> {
        let mut del = Query::delete();
        del.from_table(a("api_key_permissions"))
            .and_where(Expr::col(a("api_key_id")).eq(key.to_string()));
        exec(&self.db, &mut *ex, &del).await?;
        for (org, project, role) in perms {
            let mut q = Query::insert();
            q.into_table(a("api_key_permissions"))
                .columns(["id", "api_key_id", "organization_id", "project_id", "role"].map(a))
                .values_panic([
                    new_id().to_string().into(),
                    key.to_string().into(),
                    org.to_string().into(),
                    project.map(|p| p.to_string()).into(),
                    role.as_str().into(),
                ]);
            exec(&self.db, &mut *ex, &q).await?;
        }
        Ok(())
    }

    /// Finds or creates the identity of a Privacy API submission (§3.5): compliance
    /// requests and consent events alike.
    async fn resolve_identity(
        &self,
        ex: &mut sqlx::AnyConnection,
        project: &Project,
        input: &accord_core::consent::Identifiers,
        now: i64,
    ) -> Result<Uuid> {
        self.resolve_identity_in(ex, project, input, now, true)
            .await?
            .ok_or_else(|| Error::internal("identity could not be resolved"))
    }

    /// [`SqlStore::resolve_identity`]; with `write` false it only reads, and answers
    /// `None` when resolving would create an identity or add identifiers to one.
    async fn resolve_identity_in(
        &self,
        ex: &mut sqlx::AnyConnection,
        project: &Project,
        input: &accord_core::consent::Identifiers,
        now: i64,
        write: bool,
    ) -> Result<Option<Uuid>> {
        let pid = project.id.to_string();
        let clean = |v: &Option<String>| {
            v.as_ref()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
        };
        let email = clean(&input.email).map(|e| e.to_lowercase());
        let phone = clean(&input.phone_number)
            .map(|p| compliance::normalize_phone(&p))
            .filter(|p| !p.is_empty());
        let user_id = clean(&input.user_id);
        let project_user_id = clean(&input.project_user_id);
        let keys: [(&str, Option<String>); 4] = [
            ("email_lower", email.clone()),
            ("phone_normalized", phone.clone()),
            ("user_id", user_id.clone()),
            ("project_user_id", project_user_id.clone()),
        ];

        let find = |col: &'static str, val: String| {
            let mut q = Query::select();
            q.columns(["id", "merged_into"].map(a))
                .from(a("identities"))
                .and_where(Expr::col(a("project_id")).eq(pid.clone()))
                .and_where(Expr::col(a(col)).eq(val));
            q
        };
        // A concurrent request may create the same identity between our look-up and our
        // insert; the insert then does nothing and the look-up runs again.
        let mut attempts = 0;
        let mut row = loop {
            let mut chosen: Option<IdentityRow> = None;
            if let Some(cid) = clean(&input.concord_id) {
                chosen = one(&self.db, &mut *ex, &find("id", cid.to_lowercase())).await?;
                if chosen.is_none() {
                    return Err(Error::unprocessable("concordId not found in this project"));
                }
            } else {
                for (col, val) in &keys {
                    if let Some(v) = val {
                        chosen = one(&self.db, &mut *ex, &find(col, v.clone())).await?;
                        if chosen.is_some() {
                            break;
                        }
                    }
                }
            }
            if let Some(found) = chosen {
                break found;
            }
            if !write {
                return Ok(None);
            }
            {
                let id = new_id();
                let mut q = Query::insert();
                q.into_table(a("identities"))
                    .columns(
                        [
                            "id",
                            "organization_id",
                            "project_id",
                            "email",
                            "email_lower",
                            "email_sha256",
                            "phone_number",
                            "phone_normalized",
                            "user_id",
                            "project_user_id",
                            "date_created",
                            "date_updated",
                        ]
                        .map(a),
                    )
                    .values_panic([
                        id.to_string().into(),
                        project.organization_id.to_string().into(),
                        pid.clone().into(),
                        clean(&input.email).into(),
                        email.clone().into(),
                        email.as_deref().map(accord_core::auth::digest).into(),
                        clean(&input.phone_number).into(),
                        phone.clone().into(),
                        user_id.clone().into(),
                        project_user_id.clone().into(),
                        now.into(),
                        now.into(),
                    ]);
                q.on_conflict(sea_query::OnConflict::new().do_nothing().to_owned());
                if exec(&self.db, &mut *ex, &q).await? == 1 {
                    return Ok(Some(id));
                }
            }
            attempts += 1;
            if attempts > 3 {
                return Err(Error::internal("identity could not be resolved"));
            }
        };
        for _ in 0..16 {
            let Some(next) = row.merged_into.clone() else {
                break;
            };
            row = one(&self.db, &mut *ex, &find("id", next))
                .await?
                .ok_or_else(|| Error::internal("dangling merge"))?;
        }
        // Add identifiers the identity lacks, unless another identity holds them.
        let mut current = Query::select();
        current
            .columns(
                [
                    "id",
                    "email_lower",
                    "phone_normalized",
                    "user_id",
                    "project_user_id",
                ]
                .map(a),
            )
            .from(a("identities"))
            .and_where(Expr::col(a("id")).eq(row.id.clone()));
        let held: IdentifierRow = one(&self.db, &mut *ex, &current)
            .await?
            .ok_or_else(|| Error::internal("identity vanished"))?;
        let present = [
            held.email_lower.is_some(),
            held.phone_normalized.is_some(),
            held.user_id.is_some(),
            held.project_user_id.is_some(),
        ];
        let mut update = Query::update();
        update
            .table(a("identities"))
            .and_where(Expr::col(a("id")).eq(row.id.clone()));
        let mut changed = false;
        for ((col, val), has) in keys.iter().zip(present) {
            let Some(v) = val else { continue };
            if has {
                continue;
            }
            let other: Option<IdentityRow> = one(&self.db, &mut *ex, &find(col, v.clone())).await?;
            if other.is_some() {
                continue;
            }
            changed = true;
            match *col {
                "email_lower" => {
                    update.values([
                        (a("email"), clean(&input.email).into()),
                        (a("email_lower"), v.clone().into()),
                        (a("email_sha256"), accord_core::auth::digest(v).into()),
                    ]);
                }
                "phone_normalized" => {
                    update.values([
                        (a("phone_number"), clean(&input.phone_number).into()),
                        (a("phone_normalized"), v.clone().into()),
                    ]);
                }
                c => {
                    update.value(a(c), v.clone());
                }
            }
        }
        if changed {
            if !write {
                return Ok(None);
            }
            update.value(a("date_updated"), now);
            exec(&self.db, &mut *ex, &update).await?;
        }
        uid(&row.id).map(Some)
    }

    /// Stores all of `inputs` in one transaction, or none (§3.3), each pending request with
    /// its verification challenge and message (§3.6). A site request carries its session,
    /// and its identity is the session's: only its email may be added to it (§5.3).
    async fn create_requests(
        &self,
        project: &Project,
        inputs: Vec<CreateComplianceRequest>,
        actor: Actor,
        source: &'static str,
        session: Option<compliance::SessionInfo>,
    ) -> Result<Vec<ComplianceRequest>> {
        let now = now_ms();
        let mut tx = self.db.begin_write().await?;
        let tasks = self.active_data_systems(&mut tx, project.id).await?;
        let regulation = project.regulation();
        let mut out = Vec::with_capacity(inputs.len());
        let mut rows = Query::insert();
        rows.into_table(a("compliance_requests"))
            .columns(CR_COLUMNS.map(a));
        let mut all_events: Vec<(usize, Vec<NewEvent>)> = Vec::new();
        let mut challenges = Vec::new();
        for input in &inputs {
            let mut identifiers = accord_core::consent::Identifiers::of_request(input);
            if session.is_some() {
                identifiers = accord_core::consent::Identifiers {
                    concord_id: identifiers.concord_id,
                    email: identifiers.email,
                    ..Default::default()
                };
            }
            let concord_id = self
                .resolve_identity(&mut tx, project, &identifiers, now)
                .await?;
            let ctx = NewRequestContext {
                organization_id: project.organization_id,
                project_id: project.id,
                concord_id,
                tasks: tasks.clone(),
                regulation: regulation.clone(),
                now,
                source,
                session: session.clone(),
            };
            let (mut cr, events) = compliance::new_request(input, &ctx);
            if let Some(started) = accord_core::lifecycle::start_verification(&mut cr, now) {
                challenges.push(started);
            }
            rows.values_panic(cr_values(&cr)?);
            all_events.push((out.len(), events));
            out.push(cr);
        }
        exec(&self.db, &mut *tx, &rows).await?;
        for (i, events) in all_events {
            self.insert_events(&mut tx, &out[i], actor, &events, now)
                .await?;
        }
        for started in &challenges {
            lifecycle::insert_challenge(self, &mut tx, &started.challenge).await?;
            lifecycle::insert_message(self, &mut tx, &started.message).await?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(out)
    }

    async fn active_data_systems(
        &self,
        ex: &mut sqlx::AnyConnection,
        project: Uuid,
    ) -> Result<Vec<Uuid>> {
        let mut q = Query::select();
        q.column((a("data_systems"), a("id")))
            .from(a("data_systems"))
            .inner_join(
                a("data_system_projects"),
                Expr::col((a("data_system_projects"), a("data_system_id")))
                    .equals((a("data_systems"), a("id"))),
            )
            .and_where(
                Expr::col((a("data_system_projects"), a("project_id"))).eq(project.to_string()),
            )
            .and_where(Expr::col((a("data_systems"), a("status"))).eq("active"))
            .order_by((a("data_systems"), a("id")), Order::Asc);
        let rows: Vec<IdRow> = all(&self.db, &mut *ex, &q).await?;
        rows.iter().map(|r| uid(&r.id)).collect()
    }

    /// Writes every column of a stored request back to its row.
    async fn write_request(
        &self,
        ex: &mut sqlx::AnyConnection,
        cr: &ComplianceRequest,
    ) -> Result<()> {
        let mut up = Query::update();
        up.table(a("compliance_requests"))
            .values(CR_COLUMNS.iter().map(|c| a(c)).zip(cr_values(cr)?).skip(1))
            .and_where(Expr::col(a("id")).eq(cr.id.to_string()));
        exec(&self.db, &mut *ex, &up).await?;
        Ok(())
    }

    async fn insert_events(
        &self,
        ex: &mut sqlx::AnyConnection,
        cr: &ComplianceRequest,
        actor: Actor,
        events: &[NewEvent],
        now: i64,
    ) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let mut q = Query::insert();
        q.into_table(a("compliance_request_events")).columns(
            [
                "id",
                "compliance_request_id",
                "organization_id",
                "project_id",
                "event",
                "account_id",
                "details",
                "date_created",
            ]
            .map(a),
        );
        for e in events {
            q.values_panic([
                new_id().to_string().into(),
                cr.id.to_string().into(),
                cr.organization_id.to_string().into(),
                cr.project_id.to_string().into(),
                e.event.into(),
                actor.account_id.map(|x| x.to_string()).into(),
                e.details.to_string().into(),
                now.into(),
            ]);
        }
        exec(&self.db, &mut *ex, &q).await?;
        Ok(())
    }

    fn request_conditions(&self, f: &RequestFilter) -> Cond {
        // The caller passes only projects of `f.organization_id`, so the project alone scopes
        // the query; a single project is an equality, which lets the planner read an index in
        // sort order.
        let mut c = Cond::all();
        c = c.add(match f.project_ids.as_slice() {
            [one] => Expr::col(a("project_id")).eq(one.to_string()),
            many => Expr::col(a("project_id")).is_in(many.iter().map(|p| p.to_string())),
        });
        if let Some(v) = f.start_date {
            c = c.add(Expr::col(a("request_date")).gte(v));
        }
        if let Some(v) = f.end_date {
            c = c.add(Expr::col(a("request_date")).lt(v));
        }
        if let Some(v) = f.id {
            c = c.add(Expr::col(a("id")).eq(v.to_string()));
        }
        if let Some(v) = &f.concord_id {
            c = c.add(Expr::col(a("concord_id")).eq(v.to_lowercase()));
        }
        if let Some(v) = &f.session_id {
            c = c.add(Expr::col(a("session_id")).eq(v.clone()));
        }
        if !f.request.is_empty() {
            c = c.add(Expr::col(a("request")).is_in(f.request.clone()));
        }
        if !f.status.is_empty() {
            c = c.add(Expr::col(a("status")).is_in(f.status.clone()));
        }
        if let Some(v) = &f.resolution_status {
            c = c.add(Expr::col(a("resolution_status")).eq(v.clone()));
        }
        if let Some(v) = &f.domain {
            c = c.add(Expr::col(a("domain_lower")).eq(v.to_lowercase()));
        }
        if let Some(v) = &f.geography {
            c = c.add(lower("session_geography").eq(v.to_lowercase()));
        }
        if let Some(v) = &f.ip_address {
            c = c.add(lower("session_ip_address").eq(v.to_lowercase()));
        }
        let substrings = [
            ("user_email_lower", true, &f.user_email),
            ("session_user_agent", false, &f.user_agent),
            ("notes", false, &f.notes),
            ("request_details", false, &f.request_details),
            ("resolution", false, &f.resolution),
            ("search_text", true, &f.text),
        ];
        for (col, lowered, val) in substrings {
            if let Some(v) = val {
                c = c.add(self.db.request_substring(col, lowered, v));
            }
        }
        if let Some(overdue) = f.overdue {
            let is_overdue = Cond::all()
                .add(Expr::col(a("status")).ne(compliance::RESOLVED))
                .add(Expr::col(a("due_date")).lt(f.now));
            c = c.add(if overdue {
                is_overdue
            } else {
                is_overdue.not()
            });
        }
        c
    }

    fn sort_expr(&self, col: &str, text: bool) -> SimpleExpr {
        if text && self.db.backend == Backend::Postgres {
            Expr::cust(format!("\"{col}\" COLLATE \"C\""))
        } else {
            Expr::col(a(col)).into()
        }
    }
}

fn request_sort_column(sort: &str) -> (&'static str, bool, bool) {
    // (column, is text, nullable)
    match sort {
        "dateUpdated" => ("date_updated", false, false),
        "requestDate" => ("request_date", false, false),
        "verifiedDate" => ("verified_date", false, true),
        "acknowledgedDate" => ("acknowledged_date", false, true),
        "resolvedDate" => ("resolved_date", false, true),
        "dueDate" => ("due_date", false, false),
        "status" => ("status", true, false),
        "request" => ("request", true, false),
        "userEmail" => ("user_email", true, true),
        _ => ("date_created", false, false),
    }
}

#[async_trait::async_trait]
impl Store for SqlStore {
    async fn ping(&self) -> Result<()> {
        sqlx::query_scalar::<_, i64>("SELECT 1")
            .fetch_one(&self.db.read)
            .await
            .map_err(|_| Error::Unavailable("database unavailable".into()))?;
        Ok(())
    }

    async fn principal_by_digest(&self, digest: &str) -> Result<Option<Principal>> {
        // One round trip: the key and its permission entries.
        let (k, p) = (a("api_keys"), a("api_key_permissions"));
        let mut q = Query::select();
        q.columns(["id", "organization_id", "role", "digest"].map(|c| (k.clone(), a(c))))
            .expr_as(Expr::col((p.clone(), a("id"))), a("permission_id"))
            .expr_as(
                Expr::col((p.clone(), a("organization_id"))),
                a("permission_organization_id"),
            )
            .expr_as(
                Expr::col((p.clone(), a("project_id"))),
                a("permission_project_id"),
            )
            .expr_as(Expr::col((p.clone(), a("role"))), a("permission_role"))
            .from(k.clone())
            .left_join(
                p.clone(),
                Expr::col((p.clone(), a("api_key_id"))).equals((k.clone(), a("id"))),
            )
            .and_where(Expr::col((k.clone(), a("digest"))).eq(digest));
        let rows: Vec<KeyDigestRow> = all(&self.db, &self.db.read, &q).await?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        if !accord_core::auth::digests_equal(&first.digest, digest) {
            return Ok(None);
        }
        let mut permissions = Vec::new();
        for r in &rows {
            if let (Some(id), Some(org), Some(role)) = (
                &r.permission_id,
                &r.permission_organization_id,
                &r.permission_role,
            ) {
                permissions.push(Permission {
                    id: uid(id)?,
                    organization_id: uid(org)?,
                    project_id: r.permission_project_id.as_deref().map(uid).transpose()?,
                    role: Role::parse(role).unwrap_or(Role::None),
                });
            }
        }
        Ok(Some(Principal {
            key_id: uid(&first.id)?,
            home_organization_id: uid(&first.organization_id)?,
            role: Role::parse(&first.role).unwrap_or(Role::None),
            permissions,
        }))
    }

    async fn organization_count(&self) -> Result<i64> {
        let mut q = Query::select();
        q.expr(Expr::col(a("id")).count()).from(a("organizations"));
        count(&self.db, &self.db.read, &q).await
    }

    async fn get_organization(&self, id: Uuid) -> Result<Option<Organization>> {
        let mut q = Query::select();
        q.columns(ORG_COLUMNS.map(a))
            .from(a("organizations"))
            .and_where(Expr::col(a("id")).eq(id.to_string()));
        let row: Option<OrgRow> = one(&self.db, &self.db.read, &q).await?;
        row.map(OrgRow::into_model).transpose()
    }

    async fn list_organizations(&self, ids: &[Uuid]) -> Result<Vec<Organization>> {
        let mut q = Query::select();
        q.columns(ORG_COLUMNS.map(a))
            .from(a("organizations"))
            .and_where(Expr::col(a("id")).is_in(ids.iter().map(|i| i.to_string())))
            .order_by(a("date_created"), Order::Desc);
        let rows: Vec<OrgRow> = all(&self.db, &self.db.read, &q).await?;
        rows.into_iter().map(OrgRow::into_model).collect()
    }

    async fn create_organization(&self, new: NewOrganization) -> Result<(Organization, Project)> {
        let now = now_ms();
        let mut tx = self.db.begin_write().await?;
        let slug = match &new.slug {
            Some(s) => s.clone(),
            None => {
                self.unique_slug(&mut tx, "organizations", None, &slugify(&new.name))
                    .await?
            }
        };
        let org_id = new_id();
        let mut q = Query::insert();
        q.into_table(a("organizations"))
            .columns(ORG_COLUMNS.map(a))
            .values_panic([
                org_id.to_string().into(),
                new.name.clone().into(),
                slug.clone().into(),
                new.primary_domain.clone().into(),
                Option::<String>::None.into(),
                now.into(),
                now.into(),
            ]);
        let (sql, values) = self.db.sql(&q);
        if let Err(e) = sqlx::query_with(&sql, values).execute(&mut *tx).await {
            return Err(if is_unique_violation(&e) {
                Error::unprocessable("organizationSlug already exists")
            } else {
                db_err(e)
            });
        }
        let project = self
            .insert_project(&mut tx, org_id, &new.project, now)
            .await?;
        let mut up = Query::update();
        up.table(a("organizations"))
            .value(a("default_project_id"), project.id.to_string())
            .and_where(Expr::col(a("id")).eq(org_id.to_string()));
        exec(&self.db, &mut *tx, &up).await?;
        datamap::seed_predefined(&self.db, &mut tx, &[org_id], now).await?;
        tx.commit().await.map_err(db_err)?;
        let org = Organization {
            id: org_id,
            name: new.name,
            slug,
            primary_domain: new.primary_domain,
            default_project_id: Some(project.id),
            date_created: now,
            date_updated: now,
        };
        Ok((org, project))
    }

    async fn get_project(&self, org: Uuid, id: Uuid) -> Result<Option<Project>> {
        let mut q = Query::select();
        q.columns(PROJECT_COLUMNS.map(a))
            .from(a("projects"))
            .and_where(Expr::col(a("id")).eq(id.to_string()))
            .and_where(Expr::col(a("organization_id")).eq(org.to_string()));
        let row: Option<ProjectRow> = one(&self.db, &self.db.read, &q).await?;
        let mut projects: Vec<Project> = row
            .map(ProjectRow::into_model)
            .transpose()?
            .into_iter()
            .collect();
        lifecycle::attach_senders(self, &mut projects).await?;
        Ok(projects.pop())
    }

    async fn list_projects(&self, org: Uuid) -> Result<Vec<Project>> {
        let mut q = Query::select();
        q.columns(PROJECT_COLUMNS.map(a))
            .from(a("projects"))
            .and_where(Expr::col(a("organization_id")).eq(org.to_string()))
            .order_by(a("date_created"), Order::Desc)
            .order_by(a("id"), Order::Desc);
        let rows: Vec<ProjectRow> = all(&self.db, &self.db.read, &q).await?;
        let mut projects = rows
            .into_iter()
            .map(ProjectRow::into_model)
            .collect::<Result<Vec<_>>>()?;
        lifecycle::attach_senders(self, &mut projects).await?;
        Ok(projects)
    }

    async fn create_project(&self, org: Uuid, new: NewProject) -> Result<Project> {
        let mut tx = self.db.begin_write().await?;
        let p = self.insert_project(&mut tx, org, &new, now_ms()).await?;
        tx.commit().await.map_err(db_err)?;
        self.caches.clear_all();
        Ok(p)
    }

    async fn update_project(&self, p: &Project) -> Result<()> {
        let mut q = Query::update();
        q.table(a("projects"))
            .values(
                PROJECT_COLUMNS
                    .iter()
                    .map(|c| a(c))
                    .zip(project_values(p))
                    .skip(2),
            )
            .and_where(Expr::col(a("id")).eq(p.id.to_string()));
        let done = exec(&self.db, &self.db.write, &q).await;
        self.caches.projects.clear();
        done.map(|_| ())
    }

    async fn create_api_key(&self, new: NewApiKey) -> Result<ApiKey> {
        let now = now_ms();
        let id = new_id();
        let mut tx = self.db.begin_write().await?;
        let mut q = Query::insert();
        q.into_table(a("api_keys"))
            .columns(KEY_COLUMNS.map(a).into_iter().chain([a("digest")]))
            .values_panic([
                id.to_string().into(),
                new.organization_id.to_string().into(),
                new.name.clone().into(),
                new.role.as_str().into(),
                new.prefix.clone().into(),
                now.into(),
                now.into(),
                new.digest.clone().into(),
            ]);
        exec(&self.db, &mut *tx, &q).await?;
        self.write_permissions(&mut tx, id, &new.permissions)
            .await?;
        tx.commit().await.map_err(db_err)?;
        Ok(self
            .get_api_key(new.organization_id, id)
            .await?
            .expect("just created"))
    }

    async fn get_api_key(&self, org: Uuid, id: Uuid) -> Result<Option<ApiKey>> {
        let mut q = Query::select();
        q.columns(KEY_COLUMNS.map(a))
            .from(a("api_keys"))
            .and_where(Expr::col(a("id")).eq(id.to_string()))
            .and_where(Expr::col(a("organization_id")).eq(org.to_string()));
        let rows: Vec<KeyRow> = all(&self.db, &self.db.write, &q).await?;
        Ok(self.keys_from_rows(rows).await?.into_iter().next())
    }

    async fn list_api_keys(&self, org: Uuid) -> Result<Vec<ApiKey>> {
        let mut q = Query::select();
        q.columns(KEY_COLUMNS.map(a))
            .from(a("api_keys"))
            .and_where(Expr::col(a("organization_id")).eq(org.to_string()))
            .order_by(a("date_created"), Order::Desc)
            .order_by(a("id"), Order::Desc);
        let rows: Vec<KeyRow> = all(&self.db, &self.db.read, &q).await?;
        self.keys_from_rows(rows).await
    }

    async fn delete_api_key(&self, org: Uuid, id: Uuid) -> Result<()> {
        let mut q = Query::delete();
        q.from_table(a("api_keys"))
            .and_where(Expr::col(a("id")).eq(id.to_string()))
            .and_where(Expr::col(a("organization_id")).eq(org.to_string()));
        exec(&self.db, &self.db.write, &q).await?;
        Ok(())
    }

    async fn update_api_key(&self, key: &ApiKey) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        let mut q = Query::update();
        q.table(a("api_keys"))
            .values([
                (a("name"), key.name.clone().into()),
                (a("role"), key.role.as_str().into()),
                (a("date_updated"), now_ms().into()),
            ])
            .and_where(Expr::col(a("id")).eq(key.id.to_string()));
        exec(&self.db, &mut *tx, &q).await?;
        let perms: Vec<_> = key
            .permissions
            .iter()
            .map(|p| (p.organization_id, p.project_id, p.role))
            .collect();
        self.write_permissions(&mut tx, key.id, &perms).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn owner_key_count(&self, org: Uuid) -> Result<i64> {
        let mut q = Query::select();
        q.expr(Expr::col(a("id")).count())
            .from(a("api_keys"))
            .and_where(Expr::col(a("organization_id")).eq(org.to_string()))
            .and_where(Expr::col(a("role")).eq("owner"));
        count(&self.db, &self.db.read, &q).await
    }

    async fn create_compliance_requests(
        &self,
        project: &Project,
        inputs: Vec<CreateComplianceRequest>,
        actor: Actor,
        source: &'static str,
    ) -> Result<Vec<ComplianceRequest>> {
        self.create_requests(project, inputs, actor, source, None)
            .await
    }

    async fn get_compliance_request(
        &self,
        org: Uuid,
        project: Uuid,
        id: Uuid,
    ) -> Result<Option<ComplianceRequest>> {
        let mut q = Query::select();
        q.columns(CR_COLUMNS.map(a))
            .from(a("compliance_requests"))
            .and_where(Expr::col(a("id")).eq(id.to_string()))
            .and_where(Expr::col(a("organization_id")).eq(org.to_string()))
            .and_where(Expr::col(a("project_id")).eq(project.to_string()));
        let row: Option<CrRow> = one(&self.db, &self.db.read, &q).await?;
        row.map(CrRow::into_model).transpose()
    }

    async fn update_compliance_request(
        &self,
        org: Uuid,
        project: Uuid,
        id: Uuid,
        actor: Actor,
        f: UpdateFn,
    ) -> Result<Option<ComplianceRequest>> {
        let mut tx = self.db.begin_write().await?;
        let mut q = Query::select();
        q.columns(CR_COLUMNS.map(a))
            .from(a("compliance_requests"))
            .and_where(Expr::col(a("id")).eq(id.to_string()))
            .and_where(Expr::col(a("organization_id")).eq(org.to_string()))
            .and_where(Expr::col(a("project_id")).eq(project.to_string()));
        if self.db.locks_rows() {
            q.lock(sea_query::LockType::Update);
        }
        let Some(row): Option<CrRow> = one(&self.db, &mut *tx, &q).await? else {
            return Ok(None);
        };
        let mut cr = row.into_model()?;
        let before = cr.clone();
        let events = f(&mut cr)?;
        let notify = (before.status != compliance::RESOLVED && cr.status == compliance::RESOLVED)
            .then(|| accord_core::lifecycle::resolution_message(&cr, now_ms()))
            .flatten();
        if let Some(m) = &notify {
            lifecycle::insert_message(self, &mut tx, m).await?;
        }
        if cr != before {
            self.write_request(&mut tx, &cr).await?;
        }
        self.insert_events(&mut tx, &cr, actor, &events, cr.date_updated.max(now_ms()))
            .await?;
        tx.commit().await.map_err(db_err)?;
        Ok(Some(cr))
    }

    async fn list_compliance_requests(
        &self,
        f: &RequestFilter,
        page: &Page,
    ) -> Result<(i64, Vec<ComplianceRequest>)> {
        if f.project_ids.is_empty() {
            return Ok((0, vec![]));
        }
        let cond = self.request_conditions(f);
        let mut cq = Query::select();
        cq.expr(Expr::cust("COUNT(*)"))
            .from(a("compliance_requests"))
            .cond_where(cond.clone());
        let total = count(&self.db, &self.db.read, &cq).await?;
        if total <= page.offset {
            return Ok((total, vec![]));
        }
        // Deferred join: the page's ids come from an index, then only those rows are read.
        let (col, text, nullable) = request_sort_column(&page.sort);
        let order = if page.desc { Order::Desc } else { Order::Asc };
        let mut ids = Query::select();
        ids.column(a("id"))
            .from(a("compliance_requests"))
            .cond_where(cond);
        if nullable {
            ids.order_by_expr(Expr::col(a(col)).is_null(), Order::Asc);
        }
        ids.order_by_expr(self.sort_expr(col, text), order.clone())
            .order_by(a("id"), order)
            .limit(page.limit as u64)
            .offset(page.offset as u64);
        let page_ids: Vec<IdRow> = all(&self.db, &self.db.read, &ids).await?;
        if page_ids.is_empty() {
            return Ok((total, vec![]));
        }
        let mut q = Query::select();
        q.columns(CR_COLUMNS.map(a))
            .from(a("compliance_requests"))
            .and_where(Expr::col(a("id")).is_in(page_ids.iter().map(|r| r.id.clone())));
        let rows: Vec<CrRow> = all(&self.db, &self.db.read, &q).await?;
        let mut by_id: HashMap<String, CrRow> =
            rows.into_iter().map(|r| (r.id.clone(), r)).collect();
        let items = page_ids
            .iter()
            .filter_map(|r| by_id.remove(&r.id))
            .map(CrRow::into_model)
            .collect::<Result<Vec<_>>>()?;
        Ok((total, items))
    }

    async fn list_request_events(
        &self,
        f: &EventFilter,
        page: &Page,
    ) -> Result<(i64, Vec<RequestEvent>)> {
        if f.project_ids.is_empty() {
            return Ok((0, vec![]));
        }
        let mut c = Cond::all()
            .add(Expr::col(a("organization_id")).eq(f.organization_id.to_string()))
            .add(Expr::col(a("project_id")).is_in(f.project_ids.iter().map(|p| p.to_string())));
        if let Some(v) = f.start_date {
            c = c.add(Expr::col(a("date_created")).gte(v));
        }
        if let Some(v) = f.end_date {
            c = c.add(Expr::col(a("date_created")).lt(v));
        }
        if let Some(v) = f.account_id {
            c = c.add(Expr::col(a("account_id")).eq(v.to_string()));
        }
        if let Some(v) = f.compliance_request_id {
            c = c.add(Expr::col(a("compliance_request_id")).eq(v.to_string()));
        }
        if let Some(v) = f.event_id {
            c = c.add(Expr::col(a("id")).eq(v.to_string()));
        }
        if !f.events.is_empty() {
            c = c.add(Expr::col(a("event")).is_in(f.events.clone()));
        }
        let mut cq = Query::select();
        cq.expr(Expr::col(a("id")).count())
            .from(a("compliance_request_events"))
            .cond_where(c.clone());
        let total = count(&self.db, &self.db.read, &cq).await?;
        let order = if page.desc { Order::Desc } else { Order::Asc };
        let mut q = Query::select();
        q.columns(EVENT_COLUMNS.map(a))
            .from(a("compliance_request_events"))
            .cond_where(c);
        if page.sort == "event" {
            q.order_by_expr(self.sort_expr("event", true), order.clone());
        } else {
            q.order_by(a("date_created"), order.clone());
        }
        q.order_by(a("id"), order)
            .limit(page.limit as u64)
            .offset(page.offset as u64);
        let rows: Vec<EventRow> = all(&self.db, &self.db.read, &q).await?;
        let items = rows
            .into_iter()
            .map(EventRow::into_model)
            .collect::<Result<Vec<_>>>()?;
        Ok((total, items))
    }

    async fn append_request_event(
        &self,
        cr: &ComplianceRequest,
        actor: Actor,
        event: NewEvent,
    ) -> Result<()> {
        let mut conn = self.db.write.acquire().await.map_err(db_err)?;
        self.insert_events(&mut conn, cr, actor, &[event], now_ms())
            .await
    }

    async fn data_system_summaries(
        &self,
        org: Uuid,
        ids: &[Uuid],
    ) -> Result<HashMap<Uuid, DataSystemSummary>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let mut q = Query::select();
        q.columns(["id", "name", "data_system_type_id"].map(a))
            .from(a("data_systems"))
            .and_where(Expr::col(a("organization_id")).eq(org.to_string()))
            .and_where(Expr::col(a("id")).is_in(ids.iter().map(|i| i.to_string())));
        let rows: Vec<DataSystemRow> = all(&self.db, &self.db.read, &q).await?;
        rows.into_iter()
            .map(|r| {
                let id = uid(&r.id)?;
                Ok((
                    id,
                    DataSystemSummary {
                        id,
                        name: r.name,
                        data_system_type_id: r.data_system_type_id,
                    },
                ))
            })
            .collect()
    }

    async fn update_organization(&self, org: &Organization) -> Result<()> {
        let mut q = Query::update();
        q.table(a("organizations"))
            .values([
                (a("name"), org.name.clone().into()),
                (a("slug"), org.slug.clone().into()),
                (a("primary_domain"), org.primary_domain.clone().into()),
                (
                    a("default_project_id"),
                    org.default_project_id.map(|p| p.to_string()).into(),
                ),
                (a("date_updated"), org.date_updated.into()),
            ])
            .and_where(Expr::col(a("id")).eq(org.id.to_string()));
        exec(&self.db, &self.db.write, &q).await?;
        Ok(())
    }

    async fn delete_organization(&self, id: Uuid) -> Result<Vec<String>> {
        let org = id.to_string();
        let in_org = || Expr::col(a("organization_id")).eq(org.clone());
        let ids_of = |table: &str| {
            let mut q = Query::select();
            q.column(a("id")).from(a(table)).and_where(in_org());
            q
        };
        let mut tx = self.db.begin_write().await?;
        let mut files = Query::select();
        files
            .column(a("files"))
            .from(a("compliance_requests"))
            .and_where(in_org());
        let rows: Vec<FilesRow> = all(&self.db, &mut *tx, &files).await?;
        let mut keys = Vec::new();
        for r in rows {
            let stored: Vec<compliance::StoredFile> =
                serde_json::from_str(&r.files).map_err(Error::internal)?;
            keys.extend(stored.into_iter().map(|f| f.key));
        }
        let mut deletes = Vec::new();
        for table in [
            "outgoing_messages",
            "compliance_request_events",
            "compliance_requests",
            "identities",
            "send_from_emails",
        ] {
            let mut q = Query::delete();
            q.from_table(a(table)).and_where(in_org());
            deletes.push(q);
        }
        let mut links = Query::delete();
        links.from_table(a("data_system_projects")).cond_where(
            Cond::any()
                .add(Expr::col(a("data_system_id")).in_subquery(ids_of("data_systems")))
                .add(Expr::col(a("project_id")).in_subquery(ids_of("projects"))),
        );
        deletes.push(links);
        let mut permissions = Query::delete();
        permissions.from_table(a("api_key_permissions")).cond_where(
            Cond::any()
                .add(in_org())
                .add(Expr::col(a("api_key_id")).in_subquery(ids_of("api_keys"))),
        );
        deletes.push(permissions);
        for table in ["data_systems", "domains", "api_keys", "projects"] {
            let mut q = Query::delete();
            q.from_table(a(table)).and_where(in_org());
            deletes.push(q);
        }
        let mut organization = Query::delete();
        organization
            .from_table(a("organizations"))
            .and_where(Expr::col(a("id")).eq(org.clone()));
        deletes.push(organization);
        for q in &deletes {
            exec(&self.db, &mut *tx, q).await?;
        }
        tx.commit().await.map_err(db_err)?;
        self.caches.clear_all();
        Ok(keys)
    }

    async fn add_api_key_permission(
        &self,
        key: Uuid,
        org: Uuid,
        project: Option<Uuid>,
        role: Role,
    ) -> Result<Permission> {
        let permission = Permission {
            id: new_id(),
            organization_id: org,
            project_id: project,
            role,
        };
        let mut q = Query::insert();
        q.into_table(a("api_key_permissions"))
            .columns(["id", "api_key_id", "organization_id", "project_id", "role"].map(a))
            .values_panic([
                permission.id.to_string().into(),
                key.to_string().into(),
                org.to_string().into(),
                project.map(|p| p.to_string()).into(),
                role.as_str().into(),
            ]);
        exec(&self.db, &self.db.write, &q).await?;
        Ok(permission)
    }

    async fn organization_owner_keys(&self, org: Uuid) -> Result<Vec<Uuid>> {
        let mut home = Query::select();
        home.column(a("id"))
            .from(a("api_keys"))
            .and_where(Expr::col(a("organization_id")).eq(org.to_string()))
            .and_where(Expr::col(a("role")).eq(Role::Owner.as_str()));
        let mut granted = Query::select();
        granted
            .expr_as(Expr::col(a("api_key_id")), a("id"))
            .from(a("api_key_permissions"))
            .and_where(Expr::col(a("organization_id")).eq(org.to_string()))
            .and_where(Expr::col(a("project_id")).is_null())
            .and_where(Expr::col(a("role")).eq(Role::Owner.as_str()));
        let mut rows: Vec<IdRow> = all(&self.db, &self.db.write, &home).await?;
        rows.extend(all::<IdRow, _>(&self.db, &self.db.write, &granted).await?);
        let mut ids = rows
            .iter()
            .map(|r| uid(&r.id))
            .collect::<Result<Vec<_>>>()?;
        ids.sort();
        ids.dedup();
        Ok(ids)
    }

    async fn project_data_systems(
        &self,
        org: Uuid,
        projects: &[Uuid],
    ) -> Result<HashMap<Uuid, Vec<accord_core::admin::ProjectDataSystem>>> {
        if projects.is_empty() {
            return Ok(HashMap::new());
        }
        let (ds, link) = (a("data_systems"), a("data_system_projects"));
        let mut q = Query::select();
        q.column((link.clone(), a("project_id")))
            .columns(["id", "name", "status", "data_system_type_id"].map(|c| (ds.clone(), a(c))))
            .from(ds.clone())
            .inner_join(
                link.clone(),
                Expr::col((link.clone(), a("data_system_id"))).equals((ds.clone(), a("id"))),
            )
            .and_where(Expr::col((ds.clone(), a("organization_id"))).eq(org.to_string()))
            .and_where(
                Expr::col((link, a("project_id"))).is_in(projects.iter().map(|p| p.to_string())),
            );
        let rows: Vec<LinkedDataSystemRow> = all(&self.db, &self.db.read, &q).await?;
        let mut out: HashMap<Uuid, Vec<accord_core::admin::ProjectDataSystem>> = HashMap::new();
        for r in rows {
            out.entry(uid(&r.project_id)?).or_default().push(
                accord_core::admin::ProjectDataSystem {
                    id: uid(&r.id)?,
                    name: r.name,
                    status: r.status,
                    data_system_type_id: r.data_system_type_id,
                },
            );
        }
        for systems in out.values_mut() {
            systems.sort_by(|x, y| x.name.cmp(&y.name).then(x.id.cmp(&y.id)));
        }
        Ok(out)
    }

    async fn set_project_data_systems(&self, project: Uuid, data_systems: &[Uuid]) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        let mut del = Query::delete();
        del.from_table(a("data_system_projects"))
            .and_where(Expr::col(a("project_id")).eq(project.to_string()));
        exec(&self.db, &mut *tx, &del).await?;
        if !data_systems.is_empty() {
            let mut ins = Query::insert();
            ins.into_table(a("data_system_projects"))
                .columns(["data_system_id", "project_id"].map(a));
            for d in data_systems {
                ins.values_panic([d.to_string().into(), project.to_string().into()]);
            }
            exec(&self.db, &mut *tx, &ins).await?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn data_map(&self, org: Uuid) -> Result<accord_core::datamap::DataMap> {
        self.load_data_map(org).await
    }

    async fn save_data_system(
        &self,
        write: &accord_core::datamap::SystemWrite,
        create: bool,
    ) -> Result<()> {
        self.write_data_system(write, create).await
    }

    async fn delete_data_system(&self, org: Uuid, id: Uuid) -> Result<()> {
        self.remove_data_system(org, id).await
    }

    async fn save_attribute(
        &self,
        attribute: &accord_core::datamap::Attribute,
        systems: Option<&[Uuid]>,
        create: bool,
    ) -> Result<()> {
        self.write_attribute(attribute, systems, create).await
    }

    async fn delete_attribute(&self, org: Uuid, id: Uuid) -> Result<()> {
        self.remove_attribute(org, id).await
    }

    async fn set_identify_secret(&self, project: Uuid, secret: &str) -> Result<()> {
        let mut q = Query::update();
        q.table(a("projects"))
            .value(a("identify_secret"), secret)
            .and_where(Expr::col(a("id")).eq(project.to_string()));
        let done = exec(&self.db, &self.db.write, &q).await;
        self.caches.projects.clear();
        done.map(|_| ())
    }

    async fn create_consent_type(
        &self,
        project: &Project,
        input: accord_core::consent::CreateConsentType,
    ) -> Result<accord_core::consent::ConsentType> {
        let done = consent::consent_type_create(self, project, input).await;
        self.caches.types.clear();
        done
    }

    async fn get_consent_type(
        &self,
        org: Uuid,
        project: Uuid,
        id: Uuid,
    ) -> Result<Option<accord_core::consent::ConsentType>> {
        consent::consent_type_get(self, org, project, id).await
    }

    async fn update_consent_type(
        &self,
        org: Uuid,
        project: Uuid,
        id: Uuid,
        f: accord_core::consent::ConsentTypeUpdateFn,
    ) -> Result<Option<accord_core::consent::ConsentType>> {
        let done = consent::consent_type_update(self, org, project, id, f).await;
        self.caches.types.clear();
        done
    }

    async fn delete_consent_type(
        &self,
        org: Uuid,
        project: Uuid,
        id: Uuid,
    ) -> Result<Option<accord_core::consent::ConsentType>> {
        let done = consent::consent_type_delete(self, org, project, id).await;
        self.caches.types.clear();
        done
    }

    async fn list_consent_types(
        &self,
        filter: &accord_core::consent::ConsentTypeFilter,
        page: &Page,
    ) -> Result<(i64, Vec<accord_core::consent::ConsentType>)> {
        consent::consent_type_list(self, filter, page).await
    }

    async fn project_consent_types(
        &self,
        org: Uuid,
        project: Uuid,
    ) -> Result<std::sync::Arc<Vec<accord_core::consent::ConsentType>>> {
        consent::consent_types_of(self, org, project).await
    }

    async fn create_consent_events(
        &self,
        project: &Project,
        inputs: Vec<accord_core::consent::ConsentEventInput>,
        submitter: Option<Uuid>,
    ) -> Result<Vec<accord_core::consent::ConsentEvent>> {
        consent::consent_events_create(self, project, inputs, submitter).await
    }

    async fn resolve_consent_events(
        &self,
        project: &Project,
        inputs: Vec<accord_core::consent::ConsentEventInput>,
        submitter: Option<Uuid>,
    ) -> Result<Vec<accord_core::consent::ConsentEvent>> {
        consent::consent_events_resolve(self, project, inputs, submitter).await
    }

    async fn insert_consent_events(
        &self,
        events: &[accord_core::consent::ConsentEvent],
    ) -> Result<()> {
        consent::consent_events_insert(self, events).await
    }

    async fn get_consent_event(
        &self,
        org: Uuid,
        project: Uuid,
        id: Uuid,
    ) -> Result<Option<accord_core::consent::ConsentEvent>> {
        consent::consent_event_get(self, org, project, id).await
    }

    async fn list_consent_events(
        &self,
        filter: &accord_core::consent::ConsentEventFilter,
        page: &Page,
    ) -> Result<(i64, Vec<accord_core::consent::ConsentEvent>)> {
        consent::consent_event_list(self, filter, page).await
    }

    async fn find_identity(
        &self,
        org: Uuid,
        project: Uuid,
        lookup: &accord_core::consent::IdentityLookup,
    ) -> Result<Option<accord_core::consent::Identity>> {
        consent::identity_find(self, org, project, lookup).await
    }

    async fn consent_state(
        &self,
        org: Uuid,
        project: Uuid,
        concord_id: Uuid,
        active_only: bool,
    ) -> Result<Vec<accord_core::consent::ConsentStateItem>> {
        consent::consent_state_of(self, org, project, concord_id, active_only).await
    }

    async fn list_identities(
        &self,
        filter: &accord_core::consent::IdentityFilter,
        page: &Page,
    ) -> Result<(i64, Vec<accord_core::consent::Identity>)> {
        consent::identity_list(self, filter, page).await
    }

    async fn get_identity(
        &self,
        org: Uuid,
        project: Uuid,
        id: Uuid,
    ) -> Result<Option<accord_core::consent::Identity>> {
        consent::identity_get(self, org, project, id).await
    }

    async fn erase_identity(
        &self,
        org: Uuid,
        project: Uuid,
        id: Uuid,
        include_compliance_requests: bool,
        actor: Actor,
    ) -> Result<Option<accord_core::consent::Erasure>> {
        let done =
            consent::identity_erase(self, org, project, id, include_compliance_requests, actor)
                .await;
        self.caches.sessions.clear();
        done
    }

    async fn list_domains(
        &self,
        filter: &accord_core::site::DomainFilter,
        page: &Page,
    ) -> Result<(i64, Vec<accord_core::site::Domain>)> {
        site::domain_list(self, filter, page).await
    }

    async fn get_domain(
        &self,
        project: Uuid,
        id: Uuid,
    ) -> Result<Option<accord_core::site::Domain>> {
        site::domain_get(self, project, id).await
    }

    async fn create_domain(&self, domain: &accord_core::site::Domain) -> Result<()> {
        let done = site::domain_create(self, domain).await;
        self.caches.domains.clear();
        done
    }

    async fn update_domain(&self, domain: &accord_core::site::Domain) -> Result<()> {
        let done = site::domain_update(self, domain).await;
        self.caches.domains.clear();
        done
    }

    async fn delete_domain(&self, project: Uuid, id: Uuid) -> Result<()> {
        let done = site::domain_delete(self, project, id).await;
        self.caches.domains.clear();
        done
    }

    async fn project_domain_names(&self, project: Uuid) -> Result<Vec<String>> {
        let ticket = match self.caches.domains.get(&project) {
            Ok(names) => return Ok(names),
            Err(ticket) => ticket,
        };
        let names = site::domain_names(self, project).await?;
        self.caches.domains.fill(ticket, project, names.clone());
        Ok(names)
    }

    async fn create_site_compliance_request(
        &self,
        project: &Project,
        input: CreateComplianceRequest,
        session: compliance::SessionInfo,
    ) -> Result<ComplianceRequest> {
        let mut out = self
            .create_requests(
                project,
                vec![input],
                Actor { account_id: None },
                "site-v1",
                Some(session),
            )
            .await?;
        out.pop()
            .ok_or_else(|| Error::internal("site create stored nothing"))
    }

    async fn site_create_counts(
        &self,
        project: Uuid,
        ip: Option<&str>,
        email_lower: &str,
        since: i64,
    ) -> Result<accord_core::store::SiteCreateCounts> {
        lifecycle::site_create_counts(self, project, ip, email_lower, since).await
    }

    async fn verify_by_code(
        &self,
        project: Uuid,
        id: Uuid,
        code: &str,
        now: i64,
    ) -> Result<Option<std::result::Result<ComplianceRequest, accord_core::lifecycle::CodeRejection>>>
    {
        lifecycle::verify_by_code(self, project, id, code, now).await
    }

    async fn verify_by_token(&self, project: Uuid, token: &str, now: i64) -> Result<bool> {
        lifecycle::verify_by_token(self, project, token, now).await
    }

    async fn claim_messages(
        &self,
        now: i64,
        lease_ms: i64,
        limit: u64,
    ) -> Result<Vec<accord_core::lifecycle::OutgoingMessage>> {
        lifecycle::claim_messages(self, now, lease_ms, limit).await
    }

    async fn finish_message(
        &self,
        msg: &accord_core::lifecycle::OutgoingMessage,
        outcome: &accord_core::store::Delivery,
        now: i64,
    ) -> Result<()> {
        lifecycle::finish_message(self, msg, outcome, now).await
    }

    async fn message_backlog(&self) -> Result<i64> {
        lifecycle::message_backlog(self).await
    }

    fn pool_stats(&self) -> Vec<accord_core::store::PoolStats> {
        self.db.pool_stats()
    }

    async fn claim_job(&self, name: &str, now: i64, period_ms: i64, owner: &str) -> Result<bool> {
        lifecycle::claim_job(self, name, now, period_ms, owner).await
    }

    async fn due_purges(&self, now: i64, limit: u64) -> Result<Vec<(Uuid, Uuid, Uuid)>> {
        lifecycle::due_purges(self, now, limit).await
    }

    async fn list_send_from_emails(
        &self,
        org: Uuid,
        email: Option<&str>,
        page: &Page,
    ) -> Result<(i64, Vec<accord_core::store::SendFromEmail>)> {
        lifecycle::list_send_from_emails(self, org, email, page).await
    }

    async fn get_send_from_email(
        &self,
        org: Uuid,
        id: Uuid,
    ) -> Result<Option<accord_core::store::SendFromEmail>> {
        lifecycle::get_send_from_email(self, org, id).await
    }

    async fn create_send_from_email(
        &self,
        email: &accord_core::store::SendFromEmail,
    ) -> Result<()> {
        lifecycle::create_send_from_email(self, email).await
    }

    async fn update_send_from_email(
        &self,
        email: &accord_core::store::SendFromEmail,
    ) -> Result<()> {
        lifecycle::update_send_from_email(self, email).await
    }

    async fn delete_send_from_email(&self, org: Uuid, id: Uuid) -> Result<()> {
        lifecycle::delete_send_from_email(self, org, id).await
    }

    async fn site_project(&self, id: Uuid) -> Result<Option<Project>> {
        let ticket = match self.caches.projects.get(&id) {
            Ok(p) => return Ok(p),
            Err(ticket) => ticket,
        };
        let p = site::project_by_id(self, id).await?;
        self.caches.projects.fill(ticket, id, p.clone());
        Ok(p)
    }

    async fn server_setting_init(&self, key: &str, candidate: &str) -> Result<String> {
        site::setting_init(self, key, candidate).await
    }

    async fn session_identity(&self, project: &Project, requested: Option<Uuid>) -> Result<Uuid> {
        site::session_identity(self, project, requested).await
    }

    async fn create_session(&self, session: &accord_core::site::SessionRecord) -> Result<()> {
        site::session_create(self, session).await
    }

    async fn touch_session(&self, project: Uuid, id: Uuid, now: i64) -> Result<()> {
        site::session_touch(self, project, id, now).await
    }

    async fn get_session(
        &self,
        project: Uuid,
        id: Uuid,
    ) -> Result<Option<accord_core::site::SessionRecord>> {
        site::session_get(self, project, id).await
    }

    async fn list_sessions(
        &self,
        filter: &accord_core::site::SessionFilter,
        page: &Page,
    ) -> Result<(i64, Vec<accord_core::site::SessionRecord>)> {
        site::session_list(self, filter, page).await
    }

    async fn acting_identity(&self, project: Uuid, cid: Uuid) -> Result<Option<Uuid>> {
        let ticket = match self.caches.acting.get(&(project, cid)) {
            Ok(id) => return Ok(id),
            Err(ticket) => ticket,
        };
        let id = site::acting_identity(self, project, cid).await?;
        self.caches.acting.fill(ticket, (project, cid), id);
        Ok(id)
    }

    async fn session_info(
        &self,
        project: Uuid,
        id: Uuid,
    ) -> Result<Option<accord_core::compliance::SessionInfo>> {
        let ticket = match self.caches.sessions.get(&(project, id)) {
            Ok(info) => return Ok(info),
            Err(ticket) => ticket,
        };
        let info = site::session_get(self, project, id)
            .await?
            .map(|r| r.info());
        self.caches
            .sessions
            .fill(ticket, (project, id), info.clone());
        Ok(info)
    }

    async fn update_profile(
        &self,
        project: &Project,
        concord_id: Uuid,
        update: &accord_core::site::ProfileUpdate,
    ) -> Result<()> {
        site::profile_update(self, project, concord_id, update).await
    }

    async fn identify(
        &self,
        project: &Project,
        concord_id: Uuid,
        key: &accord_core::site::IdentifyKey,
    ) -> Result<accord_core::site::IdentifyOutcome> {
        let done = site::identify(self, project, concord_id, key).await;
        self.caches.acting.clear();
        done
    }

    async fn identify_secret(&self, project: Uuid) -> Result<Option<String>> {
        site::identify_secret(self, project).await
    }

    async fn organization_usage(
        &self,
        org: Uuid,
        month_start: i64,
    ) -> Result<accord_core::store::Usage> {
        let tally = |table: &str, since: Option<i64>| {
            let mut q = Query::select();
            q.expr(Expr::cust("COUNT(*)"))
                .from(a(table))
                .and_where(Expr::col(a("organization_id")).eq(org.to_string()));
            if let Some(t) = since {
                q.and_where(Expr::col(a("date_created")).gte(t));
            }
            q
        };
        Ok(accord_core::store::Usage {
            data_systems: count(&self.db, &self.db.read, &tally("data_systems", None)).await?,
            domains: count(&self.db, &self.db.read, &tally("domains", None)).await?,
            compliance_requests_this_month: count(
                &self.db,
                &self.db.read,
                &tally("compliance_requests", Some(month_start)),
            )
            .await?,
            sessions_this_month: count(
                &self.db,
                &self.db.read,
                &tally("sessions", Some(month_start)),
            )
            .await?,
        })
    }
}
