//! SQL for the Site API's own records: project domains (§7.7), server settings, site
//! sessions (§5.2, §5.9), and the identity changes of profile (§5.5) and identify (§5.6).
//! Its [`SiteStore`] implementation is at the end.
use super::*;
use crate::db::{db_err, is_unique_violation};
use crate::identities::{insert_identity, IdentityKeys};
use crate::paging::{contains_ci, page_of};
use crate::rows::{CrRow, ProjectRow, CR_COLUMNS, PROJECT_COLUMNS};
use crate::{a, all, count, exec, one, uid, SqlStore};
use accord_core::compliance::{Actor, NewEvent};
use accord_core::query::Page;
use accord_core::site::{Domain, IdentifyKey, IdentifyOutcome, SessionRecord};
use accord_core::store::Project;
use accord_core::store::{Entity, Key, StoreError, StoreResult as Result};
use accord_core::time::now_ms;
use sea_query::{Cond, Expr, OnConflict, Order, Query, SelectStatement, SimpleExpr};
use sqlx::{AnyConnection, FromRow};
use std::collections::HashMap;
use uuid::Uuid;

/// How deep merge chains are followed; merges re-point earlier merges, so chains stay short.
const MAX_MERGE_DEPTH: usize = 16;

fn none() -> SimpleExpr {
    SimpleExpr::from(Option::<String>::None)
}

// -----------------------------------------------------------------------------------
// Domains

const DOMAIN_COLUMNS: [&str; 7] = [
    "id",
    "organization_id",
    "project_id",
    "domain",
    "url",
    "date_created",
    "date_updated",
];

#[derive(FromRow)]
struct DomainRow {
    id: String,
    organization_id: String,
    project_id: String,
    domain: String,
    url: Option<String>,
    date_created: i64,
    date_updated: i64,
}

impl DomainRow {
    fn into_model(self) -> Result<Domain> {
        Ok(Domain {
            id: uid(&self.id)?,
            organization_id: uid(&self.organization_id)?,
            project_id: uid(&self.project_id)?,
            domain: self.domain,
            url: self.url,
            date_created: self.date_created,
            date_updated: self.date_updated,
        })
    }
}

async fn exec_unique(s: &SqlStore, stmt: &impl sea_query::QueryStatementBuilder) -> Result<u64> {
    let (sql, values) = s.db.sql(stmt);
    sqlx::query_with(&sql, values)
        .execute(&s.db.write)
        .await
        .map(|r| r.rows_affected())
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Duplicate(Key::ProjectDomain)
            } else {
                db_err(e)
            }
        })
}

pub(crate) async fn domain_create(s: &SqlStore, d: &Domain) -> Result<()> {
    let mut q = Query::insert();
    q.into_table(a("domains"))
        .columns(DOMAIN_COLUMNS.map(a))
        .values_panic([
            d.id.to_string().into(),
            d.organization_id.to_string().into(),
            d.project_id.to_string().into(),
            d.domain.clone().into(),
            d.url.clone().into(),
            d.date_created.into(),
            d.date_updated.into(),
        ]);
    exec_unique(s, &q).await.map(|_| ())
}

pub(crate) async fn domain_update(s: &SqlStore, d: &Domain) -> Result<()> {
    let mut q = Query::update();
    q.table(a("domains"))
        .values([
            (a("domain"), d.domain.clone().into()),
            (a("url"), d.url.clone().into()),
            (a("date_updated"), d.date_updated.into()),
        ])
        .and_where(Expr::col(a("project_id")).eq(d.project_id.to_string()))
        .and_where(Expr::col(a("id")).eq(d.id.to_string()));
    exec_unique(s, &q).await.map(|_| ())
}

pub(crate) async fn domain_delete(s: &SqlStore, project: Uuid, id: Uuid) -> Result<()> {
    let mut q = Query::delete();
    q.from_table(a("domains"))
        .and_where(Expr::col(a("project_id")).eq(project.to_string()))
        .and_where(Expr::col(a("id")).eq(id.to_string()));
    exec(&s.db, &s.db.write, &q).await.map(|_| ())
}

#[derive(FromRow)]
struct NameRow {
    domain: String,
}

pub(crate) async fn domain_names(s: &SqlStore, project: Uuid) -> Result<Vec<String>> {
    let mut q = Query::select();
    q.column(a("domain"))
        .from(a("domains"))
        .and_where(Expr::col(a("project_id")).eq(project.to_string()));
    let rows: Vec<NameRow> = all(&s.db, &s.db.read, &q).await?;
    Ok(rows.into_iter().map(|r| r.domain.to_lowercase()).collect())
}

// -----------------------------------------------------------------------------------
// Projects and server settings

pub(crate) async fn project_by_id(s: &SqlStore, id: Uuid) -> Result<Option<Project>> {
    let mut q = Query::select();
    q.columns(PROJECT_COLUMNS.map(a))
        .from(a("projects"))
        .and_where(Expr::col(a("id")).eq(id.to_string()));
    let row: Option<ProjectRow> = one(&s.db, &s.db.read, &q).await?;
    row.map(ProjectRow::into_model).transpose()
}

#[derive(FromRow)]
struct ValueRow {
    value: Option<String>,
}

pub(crate) async fn setting_init(s: &SqlStore, key: &str, candidate: &str) -> Result<String> {
    let mut q = Query::insert();
    q.into_table(a("server_settings"))
        .columns(["key", "value"].map(a))
        .values_panic([key.into(), candidate.into()])
        .on_conflict(OnConflict::column(a("key")).do_nothing().to_owned());
    exec(&s.db, &s.db.write, &q).await?;
    let mut q = Query::select();
    q.column(a("value"))
        .from(a("server_settings"))
        .and_where(Expr::col(a("key")).eq(key));
    let row: Option<ValueRow> = one(&s.db, &s.db.write, &q).await?;
    row.and_then(|r| r.value)
        .ok_or_else(|| StoreError::backend(format!("server setting {key} missing after insert")))
}

// -----------------------------------------------------------------------------------
// Identities

#[derive(FromRow)]
struct LinkRow {
    id: String,
    merged_into: Option<String>,
    erased_date: Option<i64>,
}

fn link_query(project: Uuid, cond: Cond) -> SelectStatement {
    let mut q = Query::select();
    q.columns(["id", "merged_into", "erased_date"].map(a))
        .from(a("identities"))
        .and_where(Expr::col(a("project_id")).eq(project.to_string()))
        .cond_where(cond)
        .order_by(a("date_created"), Order::Asc)
        .order_by(a("id"), Order::Asc);
    q
}

/// Follows `merged_into` from `start` to the survivor.
async fn survivor(
    s: &SqlStore,
    ex: &mut AnyConnection,
    project: Uuid,
    mut row: LinkRow,
) -> Result<LinkRow> {
    for _ in 0..MAX_MERGE_DEPTH {
        let Some(next) = row.merged_into.clone() else {
            return Ok(row);
        };
        row = one(
            &s.db,
            &mut *ex,
            &link_query(project, Cond::all().add(Expr::col(a("id")).eq(next))),
        )
        .await?
        .ok_or_else(|| StoreError::backend("dangling merge"))?;
    }
    Ok(row)
}

async fn by_id(
    s: &SqlStore,
    ex: &mut AnyConnection,
    project: Uuid,
    id: Uuid,
) -> Result<Option<LinkRow>> {
    let row: Option<LinkRow> = one(
        &s.db,
        &mut *ex,
        &link_query(
            project,
            Cond::all().add(Expr::col(a("id")).eq(id.to_string())),
        ),
    )
    .await?;
    match row {
        Some(r) => Ok(Some(survivor(s, ex, project, r).await?)),
        None => Ok(None),
    }
}

pub(crate) async fn acting_identity(
    s: &SqlStore,
    project: Uuid,
    cid: Uuid,
) -> Result<Option<Uuid>> {
    let mut conn = s.db.read.acquire().await.map_err(db_err)?;
    match by_id(s, &mut conn, project, cid).await? {
        Some(r) => Ok(Some(uid(&r.id)?)),
        None => Ok(None),
    }
}

// -----------------------------------------------------------------------------------
// Sessions

const SESSION_COLUMNS: [&str; 13] = [
    "id",
    "organization_id",
    "project_id",
    "concord_id",
    "ip_address",
    "domain",
    "geography",
    "user_agent",
    "gpc",
    "url",
    "referrer",
    "date_created",
    "date_updated",
];

#[derive(FromRow)]
struct SessionRow {
    id: String,
    organization_id: String,
    project_id: String,
    concord_id: String,
    ip_address: Option<String>,
    domain: Option<String>,
    geography: Option<String>,
    user_agent: Option<String>,
    gpc: i64,
    url: Option<String>,
    referrer: Option<String>,
    date_created: i64,
    date_updated: i64,
}

impl SessionRow {
    fn into_model(self) -> Result<SessionRecord> {
        Ok(SessionRecord {
            id: uid(&self.id)?,
            organization_id: uid(&self.organization_id)?,
            project_id: uid(&self.project_id)?,
            concord_id: uid(&self.concord_id)?,
            ip_address: self.ip_address,
            domain: self.domain,
            geography: self.geography,
            user_agent: self.user_agent,
            gpc: self.gpc != 0,
            url: self.url,
            referrer: self.referrer,
            date_created: self.date_created,
            date_updated: self.date_updated,
        })
    }
}

pub(crate) async fn session_get(
    s: &SqlStore,
    project: Uuid,
    id: Uuid,
) -> Result<Option<SessionRecord>> {
    let mut q = Query::select();
    q.columns(SESSION_COLUMNS.map(a))
        .from(a("sessions"))
        .and_where(Expr::col(a("project_id")).eq(project.to_string()))
        .and_where(Expr::col(a("id")).eq(id.to_string()));
    let row: Option<SessionRow> = one(&s.db, &s.db.read, &q).await?;
    row.map(SessionRow::into_model).transpose()
}

// -----------------------------------------------------------------------------------
// Profile and identify

#[derive(FromRow, Clone)]
struct IdentifiersRow {
    #[allow(dead_code)]
    id: String,
    email: Option<String>,
    email_lower: Option<String>,
    email_sha256: Option<String>,
    phone_number: Option<String>,
    phone_normalized: Option<String>,
    user_id: Option<String>,
    user_id_sha256: Option<String>,
    project_user_id: Option<String>,
}

const IDENTIFIER_COLUMNS: [&str; 9] = [
    "id",
    "email",
    "email_lower",
    "email_sha256",
    "phone_number",
    "phone_normalized",
    "user_id",
    "user_id_sha256",
    "project_user_id",
];

async fn identifiers(
    s: &SqlStore,
    ex: &mut AnyConnection,
    project: Uuid,
    id: &str,
) -> Result<IdentifiersRow> {
    let mut q = Query::select();
    q.columns(IDENTIFIER_COLUMNS.map(a))
        .from(a("identities"))
        .and_where(Expr::col(a("project_id")).eq(project.to_string()))
        .and_where(Expr::col(a("id")).eq(id));
    if s.db.locks_rows() {
        q.lock(sea_query::LockType::Update);
    }
    one(&s.db, ex, &q)
        .await?
        .ok_or_else(|| StoreError::backend("identity vanished"))
}

/// True when an identity of the project other than `me` holds `value` in `col`.
async fn held_by_other(
    s: &SqlStore,
    ex: &mut AnyConnection,
    project: Uuid,
    me: &str,
    col: &str,
    value: &str,
) -> Result<bool> {
    let mut q = Query::select();
    q.expr(Expr::col(a("id")).count())
        .from(a("identities"))
        .and_where(Expr::col(a("project_id")).eq(project.to_string()))
        .and_where(Expr::col(a(col)).eq(value))
        .and_where(Expr::col(a("id")).ne(me));
    Ok(count(&s.db, ex, &q).await? > 0)
}

/// Fills `user_id_sha256` for identities whose userId was stored without it, so hashed
/// userId look-ups see every identity.
async fn backfill_user_hashes(s: &SqlStore, ex: &mut AnyConnection, project: Uuid) -> Result<()> {
    #[derive(FromRow)]
    struct Row {
        id: String,
        user_id: String,
    }
    let mut q = Query::select();
    q.columns(["id", "user_id"].map(a))
        .from(a("identities"))
        .and_where(Expr::col(a("project_id")).eq(project.to_string()))
        .and_where(Expr::col(a("user_id")).is_not_null())
        .and_where(Expr::col(a("user_id_sha256")).is_null());
    let rows: Vec<Row> = all(&s.db, &mut *ex, &q).await?;
    for r in rows {
        let mut up = Query::update();
        up.table(a("identities"))
            .value(a("user_id_sha256"), accord_core::auth::digest(&r.user_id))
            .and_where(Expr::col(a("id")).eq(r.id));
        exec(&s.db, &mut *ex, &up).await?;
    }
    Ok(())
}

/// The surviving, non-erased identity the identifier names.
async fn matching(
    s: &SqlStore,
    ex: &mut AnyConnection,
    project: Uuid,
    key: &IdentifyKey,
) -> Result<Option<LinkRow>> {
    let cond: Cond = match key {
        IdentifyKey::Context(id) => Cond::all().add(Expr::col(a("id")).eq(id.to_string())),
        IdentifyKey::Email { plain, sha256 } => {
            let mut c = Cond::any().add(Expr::col(a("email_sha256")).eq(sha256.clone()));
            if let Some(p) = plain {
                c = c.add(Expr::col(a("email_lower")).eq(p.clone()));
            }
            c
        }
        IdentifyKey::UserId { plain, sha256 } => {
            // A plain userId matches the stored one directly; a hash needs every stored
            // userId hashed.
            if plain.is_none() {
                backfill_user_hashes(s, ex, project).await?;
            }
            let mut c = Cond::any().add(Expr::col(a("user_id_sha256")).eq(sha256.clone()));
            if let Some(p) = plain {
                c = c.add(Expr::col(a("user_id")).eq(p.clone()));
            }
            c
        }
    };
    let Some(row) = one::<LinkRow, _>(&s.db, &mut *ex, &link_query(project, cond)).await? else {
        return Ok(None);
    };
    let row = survivor(s, ex, project, row).await?;
    Ok(row.erased_date.is_none().then_some(row))
}

pub(crate) async fn identify(
    s: &SqlStore,
    project: &Project,
    concord_id: Uuid,
    key: &IdentifyKey,
) -> Result<IdentifyOutcome> {
    let now = now_ms();
    let mut tx = s.db.begin_write().await?;
    let current = by_id(s, &mut tx, project.id, concord_id)
        .await?
        .ok_or(StoreError::Missing(Entity::Row))?;
    let found = matching(s, &mut tx, project.id, key).await?;
    let outcome = match found {
        Some(b) if b.id == current.id => IdentifyOutcome::AlreadyMatching,
        Some(b) => {
            merge(s, &mut tx, project, &current.id, &b.id, now).await?;
            IdentifyOutcome::Merged { into: uid(&b.id)? }
        }
        None => {
            attach(s, &mut tx, project.id, &current.id, key, now).await?;
            IdentifyOutcome::Attached
        }
    };
    tx.commit().await.map_err(db_err)?;
    Ok(outcome)
}

async fn attach(
    s: &SqlStore,
    ex: &mut AnyConnection,
    project: Uuid,
    me: &str,
    key: &IdentifyKey,
    now: i64,
) -> Result<()> {
    let held = identifiers(s, ex, project, me).await?;
    let mut up = Query::update();
    up.table(a("identities"))
        .value(a("date_updated"), now)
        .and_where(Expr::col(a("id")).eq(me));
    match key {
        IdentifyKey::Context(_) => return Err(StoreError::Missing(Entity::IdentifyContext)),
        IdentifyKey::Email {
            plain: Some(e),
            sha256,
        } => {
            up.values([
                (a("email"), e.clone().into()),
                (a("email_lower"), e.clone().into()),
                (a("email_sha256"), sha256.clone().into()),
            ]);
        }
        IdentifyKey::Email {
            plain: None,
            sha256,
        } => {
            up.value(a("email_sha256"), sha256.clone());
            // A plain address that the hash does not describe no longer belongs here.
            if held.email_lower.is_some() && held.email_sha256.as_deref() != Some(sha256) {
                up.values([(a("email"), none()), (a("email_lower"), none())]);
            }
        }
        IdentifyKey::UserId {
            plain: Some(v),
            sha256,
        } => {
            up.values([
                (a("user_id"), v.clone().into()),
                (a("user_id_sha256"), sha256.clone().into()),
            ]);
        }
        IdentifyKey::UserId {
            plain: None,
            sha256,
        } => {
            up.value(a("user_id_sha256"), sha256.clone());
            if held.user_id.is_some() && held.user_id_sha256.as_deref() != Some(sha256) {
                up.value(a("user_id"), none());
            }
        }
    }
    exec(&s.db, ex, &up).await.map(|_| ())
}

/// Merges identity `from` into `into` (§5.6).
async fn merge(
    s: &SqlStore,
    ex: &mut AnyConnection,
    project: &Project,
    from: &str,
    into: &str,
    now: i64,
) -> Result<()> {
    let pid = project.id.to_string();
    // Consent events follow the survivor.
    let mut up = Query::update();
    up.table(a("consent_events"))
        .value(a("concord_id"), into)
        .and_where(Expr::col(a("project_id")).eq(pid.clone()))
        .and_where(Expr::col(a("concord_id")).eq(from));
    exec(&s.db, &mut *ex, &up).await?;
    // Compliance requests too, each with an `identity_merged` event.
    let mut q = Query::select();
    q.columns(CR_COLUMNS.map(a))
        .from(a("compliance_requests"))
        .and_where(Expr::col(a("project_id")).eq(pid.clone()))
        .and_where(Expr::col(a("concord_id")).eq(from))
        .order_by(a("id"), Order::Asc);
    if s.db.locks_rows() {
        q.lock(sea_query::LockType::Update);
    }
    let rows: Vec<CrRow> = all(&s.db, &mut *ex, &q).await?;
    for row in rows {
        let mut cr = row.into_model()?;
        let mut up = Query::update();
        up.table(a("compliance_requests"))
            .values([
                (a("concord_id"), into.into()),
                (a("date_updated"), now.into()),
            ])
            .and_where(Expr::col(a("id")).eq(cr.id.to_string()));
        exec(&s.db, &mut *ex, &up).await?;
        cr.concord_id = uid(into)?;
        let event = NewEvent {
            event: "identity_merged",
            details: serde_json::json!({"fromConcordId": from, "toConcordId": into}),
        };
        s.insert_events(ex, &cr, Actor { account_id: None }, &[event], now)
            .await?;
    }
    // Identifiers the survivor lacks move to it; the merged identity gives them up first
    // because identifiers are unique within the project.
    let a_ids = identifiers(s, ex, project.id, from).await?;
    let b_ids = identifiers(s, ex, project.id, into).await?;
    let groups: [(&[&str], bool, bool); 4] = [
        (
            &["email", "email_lower", "email_sha256"],
            a_ids.email_lower.is_some() || a_ids.email_sha256.is_some(),
            b_ids.email_lower.is_some() || b_ids.email_sha256.is_some(),
        ),
        (
            &["phone_number", "phone_normalized"],
            a_ids.phone_normalized.is_some(),
            b_ids.phone_normalized.is_some(),
        ),
        (
            &["user_id", "user_id_sha256"],
            a_ids.user_id.is_some() || a_ids.user_id_sha256.is_some(),
            b_ids.user_id.is_some() || b_ids.user_id_sha256.is_some(),
        ),
        (
            &["project_user_id"],
            a_ids.project_user_id.is_some(),
            b_ids.project_user_id.is_some(),
        ),
    ];
    let value_of = |col: &str| -> Option<String> {
        match col {
            "email" => a_ids.email.clone(),
            "email_lower" => a_ids.email_lower.clone(),
            "email_sha256" => a_ids.email_sha256.clone(),
            "phone_number" => a_ids.phone_number.clone(),
            "phone_normalized" => a_ids.phone_normalized.clone(),
            "user_id" => a_ids.user_id.clone(),
            "user_id_sha256" => a_ids.user_id_sha256.clone(),
            _ => a_ids.project_user_id.clone(),
        }
    };
    let mut clear = Query::update();
    clear
        .table(a("identities"))
        .values([
            (a("merged_into"), into.into()),
            (a("date_updated"), now.into()),
        ])
        .and_where(Expr::col(a("id")).eq(from));
    let mut fill = Query::update();
    fill.table(a("identities"))
        .value(a("date_updated"), now)
        .and_where(Expr::col(a("id")).eq(into));
    for (cols, a_has, b_has) in groups {
        if a_has && !b_has {
            for c in cols {
                clear.value(a(c), none());
                fill.value(a(c), value_of(c));
            }
        }
    }
    exec(&s.db, &mut *ex, &clear).await?;
    exec(&s.db, &mut *ex, &fill).await?;
    // Identities merged earlier into `from` now point at the survivor directly.
    let mut up = Query::update();
    up.table(a("identities"))
        .value(a("merged_into"), into)
        .and_where(Expr::col(a("project_id")).eq(pid))
        .and_where(Expr::col(a("merged_into")).eq(from));
    exec(&s.db, &mut *ex, &up).await?;
    Ok(())
}

#[async_trait::async_trait]
impl SiteStore for SqlStore {
    async fn list_domains(
        &self,
        f: &accord_core::site::DomainFilter,
        page: &Page,
    ) -> Result<(i64, Vec<accord_core::site::Domain>)> {
        let mut c = Cond::all().add(Expr::col(a("project_id")).eq(f.project_id.to_string()));
        if let Some(d) = &f.domain {
            c = c.add(contains_ci("domain", d));
        }
        let sort = match page.sort.as_str() {
            "domain" => ("domain", true, false),
            _ => ("date_created", false, false),
        };
        let (total, rows): (i64, Vec<DomainRow>) =
            page_of(self, "domains", &DOMAIN_COLUMNS, c, sort, page).await?;
        Ok((
            total,
            rows.into_iter()
                .map(DomainRow::into_model)
                .collect::<Result<_>>()?,
        ))
    }

    async fn get_domain(
        &self,
        project: Uuid,
        id: Uuid,
    ) -> Result<Option<accord_core::site::Domain>> {
        let mut q = Query::select();
        q.columns(DOMAIN_COLUMNS.map(a))
            .from(a("domains"))
            .and_where(Expr::col(a("project_id")).eq(project.to_string()))
            .and_where(Expr::col(a("id")).eq(id.to_string()));
        let row: Option<DomainRow> = one(&self.db, &self.db.read, &q).await?;
        row.map(DomainRow::into_model).transpose()
    }

    async fn projects_domains(
        &self,
        projects: &[Uuid],
        limit: u64,
    ) -> Result<HashMap<Uuid, (i64, Vec<Domain>)>> {
        #[derive(FromRow)]
        struct Ranked {
            #[sqlx(flatten)]
            row: DomainRow,
            total: i64,
        }
        let mut out = HashMap::new();
        if projects.is_empty() {
            return Ok(out);
        }
        // The order of `list_domains` sorted by domain, numbered within each project.
        let by_domain = match self.db.backend {
            crate::db::Backend::Postgres => "\"domain\" COLLATE \"C\"",
            _ => "\"domain\"",
        };
        let mut inner = Query::select();
        inner
            .columns(DOMAIN_COLUMNS.map(a))
            .expr_as(
                Expr::cust(format!(
                    "ROW_NUMBER() OVER (PARTITION BY \"project_id\" ORDER BY {by_domain}, \"id\")"
                )),
                a("rn"),
            )
            .expr_as(
                Expr::cust("COUNT(*) OVER (PARTITION BY \"project_id\")"),
                a("total"),
            )
            .from(a("domains"))
            .and_where(Expr::col(a("project_id")).is_in(projects.iter().map(Uuid::to_string)));
        let mut q = Query::select();
        q.columns(DOMAIN_COLUMNS.map(a))
            .column(a("total"))
            .from_subquery(inner, a("d"))
            .and_where(Expr::col(a("rn")).lte(limit as i64))
            .order_by(a("project_id"), Order::Asc)
            .order_by(a("rn"), Order::Asc);
        let rows: Vec<Ranked> = all(&self.db, &self.db.read, &q).await?;
        for r in rows {
            let d = r.row.into_model()?;
            let entry = out.entry(d.project_id).or_insert((r.total, Vec::new()));
            entry.1.push(d);
        }
        Ok(out)
    }

    async fn create_domain(&self, domain: &accord_core::site::Domain) -> Result<()> {
        let done = domain_create(self, domain).await;
        self.caches.domains.clear();
        done
    }

    async fn update_domain(&self, domain: &accord_core::site::Domain) -> Result<()> {
        let done = domain_update(self, domain).await;
        self.caches.domains.clear();
        done
    }

    async fn delete_domain(&self, project: Uuid, id: Uuid) -> Result<()> {
        let done = domain_delete(self, project, id).await;
        self.caches.domains.clear();
        done
    }

    async fn project_domain_names(&self, project: Uuid) -> Result<Vec<String>> {
        let ticket = match self.caches.domains.get(&project) {
            Ok(names) => return Ok(names),
            Err(ticket) => ticket,
        };
        let names = domain_names(self, project).await?;
        self.caches.domains.fill(ticket, project, names.clone());
        Ok(names)
    }

    fn site_config_epoch(&self) -> u64 {
        self.caches.site_config_epoch()
    }

    async fn site_project(&self, id: Uuid) -> Result<Option<Project>> {
        let read = || project_by_id(self, id);
        self.caches.projects.get_or_read(id, |_| true, read).await
    }

    async fn session_identity(&self, project: &Project, requested: Option<Uuid>) -> Result<Uuid> {
        if let Some(cid) = requested {
            let mut conn = self.db.read.acquire().await.map_err(db_err)?;
            if let Some(r) = by_id(self, &mut conn, project.id, cid).await? {
                if r.erased_date.is_none() {
                    return uid(&r.id);
                }
            }
        }
        let mut conn = self.db.write.acquire().await.map_err(db_err)?;
        insert_identity(
            self,
            &mut Tx::Sqlx(&mut conn),
            project,
            &IdentityKeys::default(),
        )
        .await?
        .ok_or_else(|| StoreError::backend("a new anonymous identity conflicted"))
    }

    async fn create_session(&self, r: &accord_core::site::SessionRecord) -> Result<()> {
        let mut q = Query::insert();
        q.into_table(a("sessions"))
            .columns(SESSION_COLUMNS.map(a))
            .values_panic([
                r.id.to_string().into(),
                r.organization_id.to_string().into(),
                r.project_id.to_string().into(),
                r.concord_id.to_string().into(),
                r.ip_address.clone().into(),
                r.domain.clone().into(),
                r.geography.clone().into(),
                r.user_agent.clone().into(),
                (r.gpc as i64).into(),
                r.url.clone().into(),
                r.referrer.clone().into(),
                r.date_created.into(),
                r.date_updated.into(),
            ]);
        exec(&self.db, &self.db.write, &q).await.map(|_| ())
    }

    async fn touch_session(&self, project: Uuid, id: Uuid, now: i64) -> Result<()> {
        let mut q = Query::update();
        q.table(a("sessions"))
            .value(a("date_updated"), now)
            .and_where(Expr::col(a("project_id")).eq(project.to_string()))
            .and_where(Expr::col(a("id")).eq(id.to_string()));
        exec(&self.db, &self.db.write, &q).await.map(|_| ())
    }

    async fn get_session(
        &self,
        project: Uuid,
        id: Uuid,
    ) -> Result<Option<accord_core::site::SessionRecord>> {
        session_get(self, project, id).await
    }

    async fn list_sessions(
        &self,
        f: &accord_core::site::SessionFilter,
        page: &Page,
    ) -> Result<(i64, Vec<accord_core::site::SessionRecord>)> {
        let mut c = Cond::all().add(Expr::col(a("project_id")).eq(f.project_id.to_string()));
        let exact = [
            (
                "concord_id",
                f.concord_id.as_ref().map(|v| v.to_lowercase()),
            ),
            ("id", f.session_id.as_ref().map(|v| v.to_lowercase())),
            ("ip_address", f.ip_address.clone()),
            ("domain", f.domain.as_ref().map(|v| v.to_lowercase())),
            ("geography", f.geography.clone()),
        ];
        for (col, val) in exact {
            if let Some(v) = val {
                c = c.add(Expr::col(a(col)).eq(v));
            }
        }
        if let Some(v) = &f.user_agent {
            c = c.add(contains_ci("user_agent", v));
        }
        if let Some(g) = f.gpc {
            c = c.add(Expr::col(a("gpc")).eq(g as i64));
        }
        if let Some(v) = f.start_date {
            c = c.add(Expr::col(a("date_created")).gte(v));
        }
        if let Some(v) = f.end_date {
            c = c.add(Expr::col(a("date_created")).lt(v));
        }
        let sort = match page.sort.as_str() {
            "dateUpdated" => ("date_updated", false, false),
            _ => ("date_created", false, false),
        };
        let (total, rows): (i64, Vec<SessionRow>) =
            page_of(self, "sessions", &SESSION_COLUMNS, c, sort, page).await?;
        Ok((
            total,
            rows.into_iter()
                .map(SessionRow::into_model)
                .collect::<Result<_>>()?,
        ))
    }

    async fn acting_identity(&self, project: Uuid, cid: Uuid) -> Result<Option<Uuid>> {
        let ticket = match self.caches.acting.get(&(project, cid)) {
            Ok(id) => return Ok(id),
            Err(ticket) => ticket,
        };
        let id = acting_identity(self, project, cid).await?;
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
        let info = session_get(self, project, id).await?.map(|r| r.info());
        self.caches
            .sessions
            .fill(ticket, (project, id), info.clone());
        Ok(info)
    }

    async fn update_profile(
        &self,
        project: &Project,
        concord_id: Uuid,
        u: &accord_core::site::ProfileUpdate,
    ) -> Result<()> {
        let now = now_ms();
        let me = concord_id.to_string();
        let mut tx = self.db.begin_write().await?;
        identifiers(self, &mut tx, project.id, &me).await?;
        let text = |v: &Option<String>| -> Option<SimpleExpr> {
            v.as_ref().map(|s| {
                if s.is_empty() {
                    none()
                } else {
                    s.clone().into()
                }
            })
        };
        let mut up = Query::update();
        up.table(a("identities"))
            .value(a("date_updated"), now)
            .and_where(Expr::col(a("id")).eq(me.clone()));
        for (col, v) in [
            ("first_name", &u.first_name),
            ("middle_name", &u.middle_name),
            ("last_name", &u.last_name),
        ] {
            if let Some(e) = text(v) {
                up.value(a(col), e);
            }
        }
        if let Some(addr) = &u.address {
            let empty = !matches!(addr.as_object(), Some(m) if !m.is_empty());
            up.value(
                a("address"),
                if empty {
                    none()
                } else {
                    addr.to_string().into()
                },
            );
        }
        // Identifiers: stored only when no other identity holds them (no enumeration).
        if let Some(e) = &u.email {
            let lower = e.to_lowercase();
            if e.is_empty() {
                up.values([
                    (a("email"), none()),
                    (a("email_lower"), none()),
                    (a("email_sha256"), none()),
                ]);
            } else if !held_by_other(self, &mut tx, project.id, &me, "email_lower", &lower).await? {
                up.values([
                    (a("email"), e.clone().into()),
                    (a("email_sha256"), accord_core::auth::digest(&lower).into()),
                    (a("email_lower"), lower.into()),
                ]);
            }
        }
        if let Some(p) = &u.phone_number {
            let norm = accord_core::compliance::normalize_phone(p);
            if p.is_empty() || norm.is_empty() {
                up.values([(a("phone_number"), none()), (a("phone_normalized"), none())]);
            } else if !held_by_other(self, &mut tx, project.id, &me, "phone_normalized", &norm)
                .await?
            {
                up.values([
                    (a("phone_number"), p.clone().into()),
                    (a("phone_normalized"), norm.into()),
                ]);
            }
        }
        if let Some(v) = &u.user_id {
            if v.is_empty() {
                up.values([(a("user_id"), none()), (a("user_id_sha256"), none())]);
            } else if !held_by_other(self, &mut tx, project.id, &me, "user_id", v).await? {
                up.values([
                    (a("user_id"), v.clone().into()),
                    (a("user_id_sha256"), accord_core::auth::digest(v).into()),
                ]);
            }
        }
        if let Some(v) = &u.project_user_id {
            if v.is_empty() {
                up.value(a("project_user_id"), none());
            } else if !held_by_other(self, &mut tx, project.id, &me, "project_user_id", v).await? {
                up.value(a("project_user_id"), v.clone());
            }
        }
        exec(&self.db, &mut *tx, &up).await?;
        tx.commit().await.map_err(db_err)
    }

    async fn identify(
        &self,
        project: &Project,
        concord_id: Uuid,
        key: &accord_core::site::IdentifyKey,
    ) -> Result<accord_core::site::IdentifyOutcome> {
        let done = identify(self, project, concord_id, key).await;
        self.caches.acting.clear();
        done
    }

    async fn identify_secret(&self, project: Uuid) -> Result<Option<String>> {
        let mut q = Query::select();
        q.expr_as(Expr::col(a("identify_secret")), a("value"))
            .from(a("projects"))
            .and_where(Expr::col(a("id")).eq(project.to_string()));
        let row: Option<ValueRow> = one(&self.db, &self.db.read, &q).await?;
        Ok(row.and_then(|r| r.value).filter(|v| !v.is_empty()))
    }
}
