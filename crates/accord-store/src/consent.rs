//! SQL for the consent ledger (§4): consent types, append-only consent events, consent
//! state and identities with their erasure. Its [`ConsentStore`] implementation is at the end.
use super::*;
use crate::db::{db_err, is_unique_violation};
use crate::lite::{LiteTx, LiteWriter};
use crate::paging::{contains_ci, page_of};
use crate::rows::{CrRow, CR_COLUMNS};
use crate::{a, all, exec, one, uid, SqlStore};
use accord_core::compliance::{Actor, NewEvent, SessionInfo};
use accord_core::consent::{
    self, ConsentEvent, ConsentType, ConsentTypeUpdateFn, CreateConsentType, Erasure, Identifiers,
    Identity, IdentityLookup,
};
use accord_core::query::Page;
use accord_core::store::Project;
use accord_core::store::{Entity, Key, StoreError, StoreResult as Result};
use accord_core::time::now_ms;
use sea_query::{Cond, Expr, LikeExpr, Order, Query, SelectStatement, SimpleExpr};
use sqlx::{AnyConnection, FromRow};
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use uuid::Uuid;

/// Rows per INSERT of consent events on PostgreSQL (one JSON parameter each).
pub const EVENT_INSERT_CHUNK: usize = 5000;

/// How deep merge chains are followed; merges flatten in practice.
const MAX_MERGE_DEPTH: usize = 16;

const TYPE_COLUMNS: [&str; 19] = [
    "id",
    "organization_id",
    "project_id",
    "category",
    "subcategory",
    "label",
    "name",
    "description",
    "document",
    "url",
    "read_only",
    "valid_states",
    "status",
    "consent_duration",
    "required",
    "require_reaccept_version",
    "version",
    "date_created",
    "date_updated",
];

#[derive(FromRow)]
struct TypeRow {
    id: String,
    organization_id: String,
    project_id: String,
    category: String,
    subcategory: String,
    label: String,
    name: String,
    description: Option<String>,
    document: Option<String>,
    url: Option<String>,
    read_only: i64,
    valid_states: String,
    status: String,
    consent_duration: String,
    required: i64,
    require_reaccept_version: Option<i64>,
    version: i64,
    date_created: i64,
    date_updated: i64,
}

fn json_list(s: &str) -> Result<Vec<String>> {
    serde_json::from_str(s).map_err(StoreError::backend)
}

fn to_json_list(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

impl TypeRow {
    fn into_model(self) -> Result<ConsentType> {
        Ok(ConsentType {
            id: uid(&self.id)?,
            organization_id: uid(&self.organization_id)?,
            project_id: uid(&self.project_id)?,
            category: self.category,
            subcategory: json_list(&self.subcategory)?,
            label: self.label,
            name: self.name,
            description: self.description,
            document: self.document,
            url: self.url,
            read_only: self.read_only != 0,
            valid_states: json_list(&self.valid_states)?,
            status: self.status,
            consent_duration: self.consent_duration,
            required: self.required != 0,
            require_reaccept_version: self.require_reaccept_version,
            version: self.version,
            date_created: self.date_created,
            date_updated: self.date_updated,
        })
    }
}

fn type_values(t: &ConsentType) -> Vec<SimpleExpr> {
    vec![
        t.id.to_string().into(),
        t.organization_id.to_string().into(),
        t.project_id.to_string().into(),
        t.category.clone().into(),
        to_json_list(&t.subcategory).into(),
        t.label.clone().into(),
        t.name.clone().into(),
        t.description.clone().into(),
        t.document.clone().into(),
        t.url.clone().into(),
        (t.read_only as i64).into(),
        to_json_list(&t.valid_states).into(),
        t.status.clone().into(),
        t.consent_duration.clone().into(),
        (t.required as i64).into(),
        t.require_reaccept_version.into(),
        t.version.into(),
        t.date_created.into(),
        t.date_updated.into(),
    ]
}

const EVENT_COLUMNS: [&str; 20] = [
    "id",
    "organization_id",
    "project_id",
    "concord_id",
    "consent_type_id",
    "category",
    "subcategory",
    "label",
    "consent_state",
    "consent_action",
    "consent_date",
    "expiration_date",
    "version",
    "session_id",
    "session_ip_address",
    "session_domain",
    "session_geography",
    "session_user_agent",
    "submitter",
    "date_created",
];

#[derive(FromRow)]
struct EventRow {
    id: String,
    organization_id: String,
    project_id: String,
    concord_id: String,
    consent_type_id: Option<String>,
    category: String,
    subcategory: String,
    label: Option<String>,
    consent_state: String,
    consent_action: String,
    consent_date: i64,
    expiration_date: i64,
    version: Option<i64>,
    session_id: Option<String>,
    session_ip_address: Option<String>,
    session_domain: Option<String>,
    session_geography: Option<String>,
    session_user_agent: Option<String>,
    submitter: Option<String>,
    date_created: i64,
}

impl EventRow {
    fn into_model(self) -> Result<ConsentEvent> {
        let has_session = [
            &self.session_id,
            &self.session_ip_address,
            &self.session_domain,
            &self.session_geography,
            &self.session_user_agent,
        ]
        .iter()
        .any(|v| v.is_some());
        let session = has_session.then_some(SessionInfo {
            id: self.session_id,
            ip_address: self.session_ip_address,
            domain: self.session_domain,
            geography: self.session_geography,
            user_agent: self.session_user_agent,
        });
        Ok(ConsentEvent {
            id: uid(&self.id)?,
            concord_id: uid(&self.concord_id)?,
            organization_id: uid(&self.organization_id)?,
            project_id: uid(&self.project_id)?,
            consent_type: self.consent_type_id.as_deref().map(uid).transpose()?,
            category: self.category,
            subcategory: json_list(&self.subcategory)?,
            label: self.label,
            consent_state: self.consent_state,
            consent_action: self.consent_action,
            consent_date: self.consent_date,
            expiration_date: self.expiration_date,
            version: self.version,
            session,
            submitter: self.submitter.as_deref().map(uid).transpose()?,
            date_created: self.date_created,
        })
    }
}

const IDENTITY_COLUMNS: [&str; 15] = [
    "id",
    "organization_id",
    "project_id",
    "email",
    "phone_number",
    "user_id",
    "project_user_id",
    "first_name",
    "middle_name",
    "last_name",
    "address",
    "merged_into",
    "erased_date",
    "date_created",
    "date_updated",
];

#[derive(FromRow)]
struct IdentityRow {
    id: String,
    organization_id: String,
    project_id: String,
    email: Option<String>,
    phone_number: Option<String>,
    user_id: Option<String>,
    project_user_id: Option<String>,
    first_name: Option<String>,
    middle_name: Option<String>,
    last_name: Option<String>,
    address: Option<String>,
    merged_into: Option<String>,
    erased_date: Option<i64>,
    date_created: i64,
    date_updated: i64,
}

impl IdentityRow {
    fn into_model(self) -> Result<Identity> {
        Ok(Identity {
            id: uid(&self.id)?,
            organization_id: uid(&self.organization_id)?,
            project_id: uid(&self.project_id)?,
            email: self.email,
            phone_number: self.phone_number,
            user_id: self.user_id,
            project_user_id: self.project_user_id,
            first_name: self.first_name,
            middle_name: self.middle_name,
            last_name: self.last_name,
            address: self
                .address
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
                .map_err(StoreError::backend)?,
            merged_into: self.merged_into.as_deref().map(uid).transpose()?,
            erased_date: self.erased_date,
            date_created: self.date_created,
            date_updated: self.date_updated,
        })
    }
}

#[derive(FromRow)]
struct IdRow {
    id: String,
}

/// A foreign-key violation (a consent type deleted while an event referred to it).
fn is_fk_violation(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => {
            d.code().is_some_and(|c| c == "23503" || c == "787")
                || d.message().contains("FOREIGN KEY constraint failed")
        }
        _ => false,
    }
}

/// `'%"value"%'` over a stored JSON array of strings: the array holds `value`.
fn json_array_holds(col: &str, value: &str) -> SimpleExpr {
    let escaped = value
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    Expr::col(a(col)).like(LikeExpr::new(format!("%\"{escaped}\"%")).escape('\\'))
}

fn any_of_holds(col: &str, values: &[String]) -> Cond {
    values
        .iter()
        .fold(Cond::any(), |c, v| c.add(json_array_holds(col, v)))
}

fn in_scope(org: Uuid, project: Uuid) -> Cond {
    Cond::all()
        .add(Expr::col(a("organization_id")).eq(org.to_string()))
        .add(Expr::col(a("project_id")).eq(project.to_string()))
}

// -----------------------------------------------------------------------------------
// Consent types

/// Creates the default consent types of a new project (§4.2), inside its transaction.
pub(crate) async fn insert_default_consent_types(
    s: &SqlStore,
    ex: &mut AnyConnection,
    project: &Project,
) -> Result<Vec<ConsentType>> {
    let types = consent::default_types(
        project.organization_id,
        project.id,
        project.privacy_policy_url.as_deref(),
        project.terms_of_service_url.as_deref(),
        project.date_created,
    );
    let mut q = Query::insert();
    q.into_table(a("consent_types"))
        .columns(TYPE_COLUMNS.map(a));
    for t in &types {
        q.values_panic(type_values(t));
    }
    exec(&s.db, &mut *ex, &q).await?;
    Ok(types)
}

fn select_types(org: Uuid, project: Uuid) -> SelectStatement {
    let mut q = Query::select();
    q.columns(TYPE_COLUMNS.map(a))
        .from(a("consent_types"))
        .cond_where(in_scope(org, project));
    q
}

async fn types_in(
    s: &SqlStore,
    ex: &mut AnyConnection,
    org: Uuid,
    project: Uuid,
    active_only: bool,
) -> Result<Vec<ConsentType>> {
    let mut q = select_types(org, project);
    if active_only {
        q.and_where(Expr::col(a("status")).eq("active"));
    }
    q.order_by(a("id"), Order::Asc);
    let rows: Vec<TypeRow> = all(&s.db, &mut *ex, &q).await?;
    rows.into_iter().map(TypeRow::into_model).collect()
}

pub(crate) async fn consent_type_create(
    s: &SqlStore,
    project: &Project,
    input: CreateConsentType,
) -> Result<ConsentType> {
    let t = consent::new_consent_type(&input, project.organization_id, project.id, now_ms())?;
    let mut q = Query::insert();
    q.into_table(a("consent_types"))
        .columns(TYPE_COLUMNS.map(a))
        .values_panic(type_values(&t));
    let (sql, values) = s.db.sql(&q);
    match sqlx::query_with(&sql, values).execute(&s.db.write).await {
        Ok(_) => Ok(t),
        Err(e) if is_unique_violation(&e) => Err(StoreError::Duplicate(Key::ConsentType)),
        Err(e) => Err(db_err(e)),
    }
}

async fn lock_type(
    s: &SqlStore,
    ex: &mut AnyConnection,
    org: Uuid,
    project: Uuid,
    id: Uuid,
) -> Result<Option<ConsentType>> {
    let mut q = select_types(org, project);
    q.and_where(Expr::col(a("id")).eq(id.to_string()));
    if s.db.locks_rows() {
        q.lock(sea_query::LockType::Update);
    }
    let row: Option<TypeRow> = one(&s.db, &mut *ex, &q).await?;
    row.map(TypeRow::into_model).transpose()
}

pub(crate) async fn consent_type_update(
    s: &SqlStore,
    org: Uuid,
    project: Uuid,
    id: Uuid,
    f: ConsentTypeUpdateFn,
) -> Result<Option<ConsentType>> {
    let mut tx = s.db.begin_write().await?;
    let Some(mut t) = lock_type(s, &mut tx, org, project, id).await? else {
        return Ok(None);
    };
    let before = t.clone();
    f(&mut t)?;
    if t != before {
        let mut up = Query::update();
        up.table(a("consent_types"))
            .values(
                TYPE_COLUMNS
                    .iter()
                    .map(|c| a(c))
                    .zip(type_values(&t))
                    .skip(3),
            )
            .and_where(Expr::col(a("id")).eq(id.to_string()));
        exec(&s.db, &mut *tx, &up).await?;
    }
    tx.commit().await.map_err(db_err)?;
    Ok(Some(t))
}

pub(crate) async fn consent_type_delete(
    s: &SqlStore,
    org: Uuid,
    project: Uuid,
    id: Uuid,
) -> Result<Option<ConsentType>> {
    let mut tx = s.db.begin_write().await?;
    let Some(t) = lock_type(s, &mut tx, org, project, id).await? else {
        return Ok(None);
    };
    consent::check_deletable(&t)?;
    let mut used = Query::select();
    used.column(a("id"))
        .from(a("consent_events"))
        .and_where(Expr::col(a("consent_type_id")).eq(id.to_string()))
        .limit(1);
    let any: Option<IdRow> = one(&s.db, &mut *tx, &used).await?;
    if any.is_some() {
        return Err(StoreError::Referenced(Entity::ConsentType));
    }
    let mut del = Query::delete();
    del.from_table(a("consent_types"))
        .and_where(Expr::col(a("id")).eq(id.to_string()));
    let (sql, values) = s.db.sql(&del);
    if let Err(e) = sqlx::query_with(&sql, values).execute(&mut *tx).await {
        return Err(if is_fk_violation(&e) {
            StoreError::Referenced(Entity::ConsentType)
        } else {
            db_err(e)
        });
    }
    tx.commit().await.map_err(db_err)?;
    Ok(Some(t))
}

// -----------------------------------------------------------------------------------
// Consent events

/// One event as the JSON array of its column values, in the order of [`EVENT_COLUMNS`].
/// Session domains are stored lowercase and geographies uppercase, so their filters
/// compare exactly.
struct EventJson<'a>(&'a ConsentEvent);

impl serde::Serialize for EventJson<'_> {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let e = self.0;
        let none = SessionInfo::default();
        let s = e.session.as_ref().unwrap_or(&none);
        let subcategory = to_json_list(&e.subcategory);
        let mut seq = ser.serialize_seq(Some(EVENT_COLUMNS.len()))?;
        seq.serialize_element(&e.id)?;
        seq.serialize_element(&e.organization_id)?;
        seq.serialize_element(&e.project_id)?;
        seq.serialize_element(&e.concord_id)?;
        seq.serialize_element(&e.consent_type)?;
        seq.serialize_element(&e.category)?;
        seq.serialize_element(&subcategory)?;
        seq.serialize_element(&e.label)?;
        seq.serialize_element(&e.consent_state)?;
        seq.serialize_element(&e.consent_action)?;
        seq.serialize_element(&e.consent_date)?;
        seq.serialize_element(&e.expiration_date)?;
        seq.serialize_element(&e.version)?;
        seq.serialize_element(&s.id.as_ref().map(|v| v.to_lowercase()))?;
        seq.serialize_element(&s.ip_address)?;
        seq.serialize_element(&s.domain.as_ref().map(|v| v.to_lowercase()))?;
        seq.serialize_element(&s.geography.as_ref().map(|v| v.to_uppercase()))?;
        seq.serialize_element(&s.user_agent)?;
        seq.serialize_element(&e.submitter)?;
        seq.serialize_element(&e.date_created)?;
        seq.end()
    }
}

/// Columns of [`EVENT_COLUMNS`] holding integers (the others hold text).
const EVENT_INT_COLUMNS: [&str; 4] = ["consent_date", "expiration_date", "version", "date_created"];

/// PostgreSQL's `INSERT … SELECT` of every event of one JSON array parameter: one
/// statement of constant text (prepared once per connection) whatever the number of rows,
/// and one bound value instead of twenty per row.
fn bulk_insert_sql() -> &'static str {
    static POSTGRES: OnceLock<String> = OnceLock::new();
    POSTGRES.get_or_init(|| {
        let values: Vec<String> = EVENT_COLUMNS
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if EVENT_INT_COLUMNS.contains(c) {
                    format!("(e.value ->> {i})::bigint")
                } else {
                    format!("e.value ->> {i}")
                }
            })
            .collect();
        format!(
            "INSERT INTO consent_events ({}) SELECT {} FROM json_array_elements($1::json) AS e(value)",
            EVENT_COLUMNS.join(", "),
            values.join(", ")
        )
    })
}

/// Rows of the largest multi-row `INSERT … VALUES` on SQLite (20 bound values each).
const SQLITE_ROWS_PER_INSERT: usize = 64;
const _: () = assert!(SQLITE_ROWS_PER_INSERT.is_power_of_two());

/// `INSERT … VALUES` of `rows` rows of bound values, for `rows` a power of two up to
/// [`SQLITE_ROWS_PER_INSERT`]: seven texts in all, each prepared once per connection.
fn values_insert_sql(rows: usize) -> &'static str {
    static TEXTS: OnceLock<Vec<String>> = OnceLock::new();
    let texts = TEXTS.get_or_init(|| {
        let row = format!("({})", vec!["?"; EVENT_COLUMNS.len()].join(", "));
        (0..=SQLITE_ROWS_PER_INSERT.trailing_zeros())
            .map(|log| {
                format!(
                    "INSERT INTO consent_events ({}) VALUES {}",
                    EVENT_COLUMNS.join(", "),
                    vec![row.as_str(); 1 << log].join(", ")
                )
            })
            .collect()
    });
    debug_assert!(rows.is_power_of_two() && rows <= SQLITE_ROWS_PER_INSERT);
    &texts[rows.trailing_zeros() as usize]
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// The email (trimmed, lowercase) of identifiers that name an email and nothing else.
fn email_alone(ids: &Identifiers) -> Option<String> {
    let named = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
    if named(&ids.concord_id)
        || named(&ids.phone_number)
        || named(&ids.user_id)
        || named(&ids.project_user_id)
    {
        return None;
    }
    let email = ids.email.as_deref()?.trim().to_lowercase();
    (!email.is_empty()).then_some(email)
}

#[derive(FromRow)]
struct EmailIdentityRow {
    id: String,
    merged_into: Option<String>,
    email_lower: String,
}

/// The identities of `project` holding each of `emails` (lowercase), those not merged into
/// another only: for an item naming one of these emails alone, what
/// [`SqlStore::resolve_identity_in`] resolves to (it adds no identifier), read in one
/// statement per 500 emails instead of two per email.
async fn unmerged_by_email(
    s: &SqlStore,
    conn: &mut AnyConnection,
    project: Uuid,
    mut emails: Vec<String>,
) -> Result<HashMap<String, Uuid>> {
    emails.sort_unstable();
    emails.dedup();
    let mut out = HashMap::new();
    for chunk in emails.chunks(500) {
        let mut q = Query::select();
        q.columns(["id", "merged_into", "email_lower"].map(a))
            .from(a("identities"))
            .and_where(Expr::col(a("project_id")).eq(project.to_string()))
            .and_where(Expr::col(a("email_lower")).is_in(chunk.iter().cloned()));
        let rows: Vec<EmailIdentityRow> = all(&s.db, &mut *conn, &q).await?;
        for r in rows.into_iter().filter(|r| r.merged_into.is_none()) {
            out.insert(r.email_lower, uid(&r.id)?);
        }
    }
    Ok(out)
}

/// Binds one event's column values in the order of [`EVENT_COLUMNS`], as [`EventJson`]
/// writes them.
fn bind_event<'q>(q: AnyQuery<'q>, e: &'q ConsentEvent) -> AnyQuery<'q> {
    let s = e.session.as_ref();
    q.bind(e.id.to_string())
        .bind(e.organization_id.to_string())
        .bind(e.project_id.to_string())
        .bind(e.concord_id.to_string())
        .bind(e.consent_type.map(|t| t.to_string()))
        .bind(e.category.as_str())
        .bind(to_json_list(&e.subcategory))
        .bind(e.label.as_deref())
        .bind(e.consent_state.as_str())
        .bind(e.consent_action.as_str())
        .bind(e.consent_date)
        .bind(e.expiration_date)
        .bind(e.version)
        .bind(s.and_then(|s| s.id.as_ref()).map(|v| v.to_lowercase()))
        .bind(s.and_then(|s| s.ip_address.as_deref()))
        .bind(s.and_then(|s| s.domain.as_ref()).map(|v| v.to_lowercase()))
        .bind(
            s.and_then(|s| s.geography.as_ref())
                .map(|v| v.to_uppercase()),
        )
        .bind(s.and_then(|s| s.user_agent.as_deref()))
        .bind(e.submitter.map(|k| k.to_string()))
        .bind(e.date_created)
}

/// `events` in the row counts of [`values_insert_sql`]: 64 at a time, then the largest
/// power of two that is left.
fn sqlite_chunks<'e, 'v>(
    mut rest: &'e [&'v ConsentEvent],
) -> impl Iterator<Item = &'e [&'v ConsentEvent]> {
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let rows = if rest.len() >= SQLITE_ROWS_PER_INSERT {
            SQLITE_ROWS_PER_INSERT
        } else {
            1 << rest.len().ilog2()
        };
        let (chunk, tail) = rest.split_at(rows);
        rest = tail;
        Some(chunk)
    })
}

/// [`insert_event_rows`] on the SQLite writer's own connection (see `lite.rs`), inside its
/// open transaction: the same multi-row statements, each prepared once and kept, with the
/// values bound in place (the ids written out on the stack) rather than copied into
/// sqlx's arguments and sent to its driver thread.
fn insert_event_rows_lite(w: &LiteWriter, events: &[&ConsentEvent]) -> Result<()> {
    w.with_mapped(
        |c| {
            for chunk in sqlite_chunks(events) {
                let mut stmt = c.prepare_cached(values_insert_sql(chunk.len()))?;
                for (i, e) in chunk.iter().enumerate() {
                    bind_event_lite(&mut stmt, i * EVENT_COLUMNS.len(), e)?;
                }
                stmt.raw_execute()?;
            }
            Ok(())
        },
        |e| {
            let fk = matches!(&e, rusqlite::Error::SqliteFailure(f, _)
                if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY);
            if fk {
                StoreError::Missing(Entity::ConsentType)
            } else {
                StoreError::backend(e)
            }
        },
    )
}

/// Binds one event's column values from parameter `at + 1` on, as [`bind_event`] does.
fn bind_event_lite(
    stmt: &mut rusqlite::CachedStatement<'_>,
    at: usize,
    e: &ConsentEvent,
) -> rusqlite::Result<()> {
    let mut buf = [[0u8; uuid::fmt::Hyphenated::LENGTH]; 6];
    let [b0, b1, b2, b3, b4, b5] = &mut buf;
    let s = e.session.as_ref();
    let lower = |v: Option<&String>| v.map(|v| v.to_lowercase());
    stmt.raw_bind_parameter(at + 1, &*e.id.hyphenated().encode_lower(b0))?;
    stmt.raw_bind_parameter(at + 2, &*e.organization_id.hyphenated().encode_lower(b1))?;
    stmt.raw_bind_parameter(at + 3, &*e.project_id.hyphenated().encode_lower(b2))?;
    stmt.raw_bind_parameter(at + 4, &*e.concord_id.hyphenated().encode_lower(b3))?;
    stmt.raw_bind_parameter(
        at + 5,
        e.consent_type
            .as_ref()
            .map(|t| &*t.hyphenated().encode_lower(b4)),
    )?;
    stmt.raw_bind_parameter(at + 6, e.category.as_str())?;
    stmt.raw_bind_parameter(at + 7, to_json_list(&e.subcategory))?;
    stmt.raw_bind_parameter(at + 8, e.label.as_deref())?;
    stmt.raw_bind_parameter(at + 9, e.consent_state.as_str())?;
    stmt.raw_bind_parameter(at + 10, e.consent_action.as_str())?;
    stmt.raw_bind_parameter(at + 11, e.consent_date)?;
    stmt.raw_bind_parameter(at + 12, e.expiration_date)?;
    stmt.raw_bind_parameter(at + 13, e.version)?;
    stmt.raw_bind_parameter(at + 14, lower(s.and_then(|s| s.id.as_ref())))?;
    stmt.raw_bind_parameter(at + 15, s.and_then(|s| s.ip_address.as_deref()))?;
    stmt.raw_bind_parameter(at + 16, lower(s.and_then(|s| s.domain.as_ref())))?;
    stmt.raw_bind_parameter(
        at + 17,
        s.and_then(|s| s.geography.as_ref())
            .map(|v| v.to_uppercase()),
    )?;
    stmt.raw_bind_parameter(at + 18, s.and_then(|s| s.user_agent.as_deref()))?;
    stmt.raw_bind_parameter(
        at + 19,
        e.submitter
            .as_ref()
            .map(|k| &*k.hyphenated().encode_lower(b5)),
    )?;
    stmt.raw_bind_parameter(at + 20, e.date_created)?;
    Ok(())
}

/// Appends fully resolved events, inside the caller's transaction. On SQLite the values
/// are bound to multi-row `INSERT … VALUES` statements of 64, 32, …, 1 rows: SQLite read a
/// JSON parameter back through its JSON functions once per column of every row, about a
/// quarter of the writer's time. PostgreSQL takes one JSON array per 5,000 rows, one round
/// trip.
pub(crate) async fn insert_event_rows(
    s: &SqlStore,
    ex: &mut AnyConnection,
    events: &[&ConsentEvent],
) -> Result<()> {
    let fk_or_db = |e: sqlx::Error| {
        if is_fk_violation(&e) {
            StoreError::Missing(Entity::ConsentType)
        } else {
            db_err(e)
        }
    };
    if s.db.backend == crate::Backend::Sqlite {
        for chunk in sqlite_chunks(events) {
            let insert = chunk
                .iter()
                .fold(sqlx::query(values_insert_sql(chunk.len())), |q, e| {
                    bind_event(q, e)
                });
            insert.execute(&mut *ex).await.map_err(fk_or_db)?;
        }
        return Ok(());
    }
    for chunk in events.chunks(EVENT_INSERT_CHUNK) {
        let rows: Vec<EventJson> = chunk.iter().copied().map(EventJson).collect();
        let json = serde_json::to_string(&rows).map_err(StoreError::backend)?;
        let insert = sqlx::query(bulk_insert_sql()).bind(json);
        insert.execute(&mut *ex).await.map_err(fk_or_db)?;
    }
    Ok(())
}

impl SqlStore {
    /// The identity of every event of `requests` whose items name people still to be
    /// resolved in the writing transaction `tx` (creating them or adding identifiers).
    async fn resolve_event_identities(
        &self,
        tx: &mut Tx<'_>,
        requests: &mut [accord_core::consent::NewEvents],
    ) -> Result<()> {
        let now = now_ms();
        for request in requests.iter_mut() {
            let Some(pending) = &request.identities else {
                continue;
            };
            // An item creates an identity or adds identifiers to one, which later items of
            // the same request may then resolve to: all of them in order.
            let mut resolved: HashMap<&Identifiers, Uuid> = HashMap::new();
            for (event, ids) in request.events.iter_mut().zip(&pending.items) {
                event.concord_id = match resolved.entry(ids) {
                    Entry::Occupied(found) => *found.get(),
                    Entry::Vacant(slot) => *slot.insert(
                        self.resolve_identity(tx, &pending.project, ids, now)
                            .await?,
                    ),
                };
            }
        }
        Ok(())
    }
}

// -----------------------------------------------------------------------------------
// Identities and consent state

fn select_identities(org: Uuid, project: Uuid) -> SelectStatement {
    let mut q = Query::select();
    q.columns(IDENTITY_COLUMNS.map(a))
        .from(a("identities"))
        .cond_where(in_scope(org, project));
    q
}

/// The identity named by `column = value`, followed to the survivor of its merges.
async fn identity_by(
    s: &SqlStore,
    ex: &mut AnyConnection,
    org: Uuid,
    project: Uuid,
    column: &str,
    value: String,
) -> Result<Option<Identity>> {
    let mut q = select_identities(org, project);
    q.and_where(Expr::col(a(column)).eq(value));
    let Some(row): Option<IdentityRow> = one(&s.db, &mut *ex, &q).await? else {
        return Ok(None);
    };
    let mut identity = row.into_model()?;
    for _ in 0..MAX_MERGE_DEPTH {
        let Some(next) = identity.merged_into else {
            break;
        };
        let mut q = select_identities(org, project);
        q.and_where(Expr::col(a("id")).eq(next.to_string()));
        match one::<IdentityRow, _>(&s.db, &mut *ex, &q).await? {
            Some(r) => identity = r.into_model()?,
            None => break,
        }
    }
    Ok(Some(identity))
}

/// `id` and every identity merged into it, directly or through others.
async fn identity_group(
    s: &SqlStore,
    ex: &mut AnyConnection,
    project: Uuid,
    id: Uuid,
) -> Result<Vec<String>> {
    let mut group = vec![id.to_string()];
    let mut frontier = group.clone();
    for _ in 0..MAX_MERGE_DEPTH {
        if frontier.is_empty() {
            break;
        }
        let mut q = Query::select();
        q.column(a("id"))
            .from(a("identities"))
            .and_where(Expr::col(a("project_id")).eq(project.to_string()))
            .and_where(Expr::col(a("merged_into")).is_in(frontier.clone()));
        let rows: Vec<IdRow> = all(&s.db, &mut *ex, &q).await?;
        frontier = rows
            .into_iter()
            .map(|r| r.id)
            .filter(|i| !group.contains(i))
            .collect();
        group.extend(frontier.iter().cloned());
    }
    Ok(group)
}

/// Erasure (§4.5), in one transaction.
pub(crate) async fn identity_erase(
    s: &SqlStore,
    org: Uuid,
    project: Uuid,
    id: Uuid,
    include_compliance_requests: bool,
    actor: Actor,
) -> Result<Option<Erasure>> {
    let now = now_ms();
    let mut tx = s.db.begin_write().await?;
    let mut q = select_identities(org, project);
    q.and_where(Expr::col(a("id")).eq(id.to_string()));
    if s.db.locks_rows() {
        q.lock(sea_query::LockType::Update);
    }
    if one::<IdentityRow, _>(&s.db, &mut *tx, &q).await?.is_none() {
        return Ok(None);
    }
    let group = identity_group(s, &mut tx, project, id).await?;
    let in_group = || in_scope(org, project).add(Expr::col(a("concord_id")).is_in(group.clone()));

    // 1. The identity and those merged into it keep only their pseudonymous shell.
    let none = || SimpleExpr::from(Option::<String>::None);
    let mut up = Query::update();
    up.table(a("identities"))
        .values(
            [
                "email",
                "email_lower",
                "email_sha256",
                "phone_number",
                "phone_normalized",
                "user_id",
                "user_id_sha256",
                "project_user_id",
                "first_name",
                "middle_name",
                "last_name",
                "address",
            ]
            .map(|c| (a(c), none())),
        )
        .values([
            (a("erased_date"), now.into()),
            (a("date_updated"), now.into()),
        ])
        .cond_where(in_scope(org, project).add(Expr::col(a("id")).is_in(group.clone())));
    exec(&s.db, &mut *tx, &up).await?;

    // 2. Consent events keep type, state, action, dates and version; their session loses
    // its IP address and user agent...
    let mut up = Query::update();
    up.table(a("consent_events"))
        .values([
            (a("session_ip_address"), none()),
            (a("session_user_agent"), none()),
        ])
        .cond_where(in_group());
    let consent_events_redacted = exec(&s.db, &mut *tx, &up).await? as i64;

    // ... and so do the identity's session records.
    let mut up = Query::update();
    up.table(a("sessions"))
        .values([(a("ip_address"), none()), (a("user_agent"), none())])
        .cond_where(in_group());
    let sessions_redacted = exec(&s.db, &mut *tx, &up).await? as i64;

    // 3. Compliance requests, when asked.
    let mut file_keys = Vec::new();
    let mut compliance_requests_redacted = 0;
    if include_compliance_requests {
        let mut q = Query::select();
        q.columns(CR_COLUMNS.map(a))
            .from(a("compliance_requests"))
            .cond_where(in_group())
            .order_by(a("id"), Order::Asc);
        if s.db.locks_rows() {
            q.lock(sea_query::LockType::Update);
        }
        let rows: Vec<CrRow> = all(&s.db, &mut *tx, &q).await?;
        for row in rows {
            let mut cr = row.into_model()?;
            cr.user_email = None;
            cr.user_first_name = None;
            cr.user_last_name = None;
            cr.user_phone_number = None;
            cr.request_details = None;
            if let Some(s) = cr.session.as_mut() {
                s.ip_address = None;
                s.user_agent = None;
            }
            file_keys.extend(cr.files.drain(..).map(|f| f.key));
            cr.file_purge_date = None;
            cr.date_updated = now;
            s.write_request(&mut tx, &cr).await?;
            crate::lifecycle::forget_messages(s, &mut tx, cr.id).await?;
            let event = NewEvent {
                event: "identity_erased",
                details: serde_json::json!({}),
            };
            s.insert_events(&mut tx, &cr, actor, &[event], now).await?;
            compliance_requests_redacted += 1;
        }
    }
    tx.commit().await.map_err(db_err)?;
    Ok(Some(Erasure {
        concord_id: id,
        consent_events_redacted,
        sessions_redacted,
        compliance_requests_redacted,
        file_keys,
    }))
}

// -----------------------------------------------------------------------------------
// Aggregates of the console's consent pages

#[derive(FromRow)]
struct DayRow {
    day: i64,
    k: Option<String>,
    n: i64,
}

/// See [`ConsentStore::consent_event_days`]: the range condition leads with the project,
/// so the `(project_id, consent_date, id)` index bounds the rows read.
pub(crate) async fn event_days(
    s: &SqlStore,
    org: Uuid,
    project: Uuid,
    start: i64,
    end: i64,
    split: consent::DaySplit,
) -> Result<Vec<consent::DayCount>> {
    let key = match split {
        consent::DaySplit::State => "consent_state",
        consent::DaySplit::ConsentType => "consent_type_id",
    };
    let mut q = Query::select();
    q.expr_as(
        Expr::cust(format!(
            "CAST(consent_date / {} AS BIGINT)",
            consent::DAY_MS
        )),
        a("day"),
    )
    .expr_as(Expr::col(a(key)), a("k"))
    .expr_as(Expr::cust("COUNT(*)"), a("n"))
    .from(a("consent_events"))
    .and_where(Expr::col(a("project_id")).eq(project.to_string()))
    .and_where(Expr::col(a("consent_date")).gte(start))
    .and_where(Expr::col(a("consent_date")).lt(end))
    .and_where(Expr::col(a("organization_id")).eq(org.to_string()))
    .group_by_col(a("day"))
    .group_by_col(a("k"));
    let rows: Vec<DayRow> = all(&s.db, &s.db.read, &q).await?;
    Ok(rows
        .into_iter()
        .map(|r| consent::DayCount {
            day: r.day,
            key: r.k,
            n: r.n,
        })
        .collect())
}

#[derive(FromRow)]
struct StateCountRow {
    type_id: String,
    state: String,
    n: i64,
}

/// See [`ConsentStore::current_state_counts`]. Merges are flat (an identity merged into
/// another points at the survivor directly), so `COALESCE(merged_into, concord_id)` is the
/// person an event counts for. The window reads the project's unexpired typed events once.
pub(crate) async fn state_counts(
    s: &SqlStore,
    org: Uuid,
    project: Uuid,
    now: i64,
) -> Result<Vec<consent::CurrentStateCount>> {
    use sea_query::JoinType;
    let col = |t: &str, c: &str| Expr::col((a(t), a(c)));
    let mut inner = Query::select();
    inner
        .expr_as(col("e", "consent_type_id"), a("type_id"))
        .expr_as(col("e", "consent_state"), a("state"))
        .expr_as(
            Expr::cust(
                "ROW_NUMBER() OVER (PARTITION BY COALESCE(i.merged_into, e.concord_id), \
                 e.consent_type_id ORDER BY e.consent_date DESC, e.date_created DESC, e.id DESC)",
            ),
            a("rn"),
        )
        .from_as(a("consent_events"), a("e"))
        .join_as(
            JoinType::InnerJoin,
            a("consent_types"),
            a("t"),
            col("t", "id").equals((a("e"), a("consent_type_id"))),
        )
        .join_as(
            JoinType::LeftJoin,
            a("identities"),
            a("i"),
            col("i", "id").equals((a("e"), a("concord_id"))),
        )
        .and_where(col("e", "project_id").eq(project.to_string()))
        .and_where(col("e", "organization_id").eq(org.to_string()))
        .and_where(col("e", "expiration_date").gt(now))
        .cond_where(
            Cond::any()
                .add(col("t", "require_reaccept_version").is_null())
                .add(Expr::cust(
                    "COALESCE(e.version, 0) >= t.require_reaccept_version",
                )),
        );
    let mut q = Query::select();
    q.column(a("type_id"))
        .column(a("state"))
        .expr_as(Expr::cust("COUNT(*)"), a("n"))
        .from_subquery(inner, a("w"))
        .and_where(Expr::col(a("rn")).eq(1))
        .group_by_col(a("type_id"))
        .group_by_col(a("state"));
    let rows: Vec<StateCountRow> = all(&s.db, &s.db.read, &q).await?;
    rows.into_iter()
        .map(|r| {
            Ok(consent::CurrentStateCount {
                consent_type: uid(&r.type_id)?,
                state: r.state,
                people: r.n,
            })
        })
        .collect()
}

#[async_trait::async_trait]
impl ConsentStore for SqlStore {
    async fn create_consent_type(
        &self,
        project: &Project,
        input: accord_core::consent::CreateConsentType,
    ) -> Result<accord_core::consent::ConsentType> {
        let done = consent_type_create(self, project, input).await;
        self.caches.types.clear();
        done
    }

    async fn get_consent_type(
        &self,
        org: Uuid,
        project: Uuid,
        id: Uuid,
    ) -> Result<Option<accord_core::consent::ConsentType>> {
        let mut q = select_types(org, project);
        q.and_where(Expr::col(a("id")).eq(id.to_string()));
        let row: Option<TypeRow> = one(&self.db, &self.db.read, &q).await?;
        row.map(TypeRow::into_model).transpose()
    }

    async fn update_consent_type(
        &self,
        org: Uuid,
        project: Uuid,
        id: Uuid,
        f: accord_core::consent::ConsentTypeUpdateFn,
    ) -> Result<Option<accord_core::consent::ConsentType>> {
        let done = consent_type_update(self, org, project, id, f).await;
        self.caches.types.clear();
        done
    }

    async fn delete_consent_type(
        &self,
        org: Uuid,
        project: Uuid,
        id: Uuid,
    ) -> Result<Option<accord_core::consent::ConsentType>> {
        let done = consent_type_delete(self, org, project, id).await;
        self.caches.types.clear();
        done
    }

    async fn list_consent_types(
        &self,
        f: &accord_core::consent::ConsentTypeFilter,
        page: &Page,
    ) -> Result<(i64, Vec<accord_core::consent::ConsentType>)> {
        let mut c = in_scope(f.organization_id, f.project_id);
        if let Some(v) = &f.category {
            c = c.add(Expr::col(a("category")).eq(v.clone()));
        }
        if !f.subcategory.is_empty() {
            c = c.add(any_of_holds("subcategory", &f.subcategory));
        }
        if let Some(v) = &f.label {
            c = c.add(Expr::col(a("label")).eq(v.clone()));
        }
        if let Some(v) = &f.name {
            c = c.add(contains_ci("name", v));
        }
        if let Some(v) = &f.url {
            c = c.add(contains_ci("url", v));
        }
        if let Some(v) = f.version {
            c = c.add(Expr::col(a("version")).eq(v));
        }
        if let Some(v) = &f.status {
            c = c.add(Expr::col(a("status")).eq(v.clone()));
        }
        let sort = match page.sort.as_str() {
            "dateUpdated" => ("date_updated", false, false),
            "name" => ("name", true, false),
            "category" => ("category", true, false),
            "label" => ("label", true, false),
            "version" => ("version", false, false),
            "status" => ("status", true, false),
            _ => ("date_created", false, false),
        };
        let (total, rows) =
            page_of::<TypeRow>(self, "consent_types", &TYPE_COLUMNS, c, sort, page).await?;
        let items = rows
            .into_iter()
            .map(TypeRow::into_model)
            .collect::<Result<_>>()?;
        Ok((total, items))
    }

    /// Every consent type of a project, from the store's short-lived cache.
    async fn project_consent_types(
        &self,
        org: Uuid,
        project: Uuid,
    ) -> Result<std::sync::Arc<Vec<accord_core::consent::ConsentType>>> {
        let ticket = match self.caches.types.get(&(org, project)) {
            Ok(types) => return Ok(types),
            Err(ticket) => ticket,
        };
        let mut conn = self.db.read.acquire().await.map_err(db_err)?;
        let types = Arc::new(types_in(self, &mut conn, org, project, false).await?);
        self.caches
            .types
            .fill(ticket, (org, project), types.clone());
        Ok(types)
    }

    /// See [`ConsentStore::find_event_identities`].
    async fn find_event_identities(
        &self,
        project: &Project,
        inputs: &[accord_core::consent::ConsentEventInput],
    ) -> Result<Option<Vec<Uuid>>> {
        let now = now_ms();
        let mut resolved: HashMap<Identifiers, Uuid> = HashMap::new();
        let mut complete = true;
        let mut conn = self.db.read.acquire().await.map_err(db_err)?;
        // Each item's identifiers, and the email of those naming an email alone.
        let items: Vec<(Identifiers, Option<String>)> = inputs
            .iter()
            .map(|input| {
                let ids = Identifiers::of_event(input);
                let email = email_alone(&ids);
                (ids, email)
            })
            .collect();
        let emails = items.iter().filter_map(|(_, e)| e.clone()).collect();
        let known = unmerged_by_email(self, &mut conn, project.id, emails).await?;
        for (ids, email) in &items {
            if resolved.contains_key(ids) {
                continue;
            }
            // An item naming an email alone, held by an identity that was not merged away:
            // the identity it resolves to, read with the others in one statement.
            if let Some(id) = email.as_ref().and_then(|e| known.get(e)) {
                resolved.insert(ids.clone(), *id);
                continue;
            }
            // After an item that writes, only a `concordId` is still looked up, so that an
            // unknown one is refused here rather than failing the writer's whole batch.
            let names_concord_id = ids
                .concord_id
                .as_deref()
                .is_some_and(|c| !c.trim().is_empty());
            if !complete && !names_concord_id {
                continue;
            }
            match self
                .resolve_identity_in(&mut Tx::Sqlx(&mut conn), project, ids, now, false)
                .await?
            {
                Some(id) => {
                    resolved.insert(ids.clone(), id);
                }
                None => complete = false,
            }
        }
        Ok(complete.then(|| items.iter().map(|(ids, _)| resolved[ids]).collect()))
    }

    async fn append_consent_events(
        &self,
        requests: &mut [accord_core::consent::NewEvents],
    ) -> Result<()> {
        if requests.iter().all(|r| r.events.is_empty()) {
            return Ok(());
        }
        if let Some(w) = self.db.lite_writer.as_deref() {
            // sqlx's writer connection stays idle, held: no other write of this process
            // comes between (as for a batch of creates, `creates.rs`).
            let _held = self.db.write.acquire().await.map_err(db_err)?;
            let tx = LiteTx::begin(w)?;
            self.resolve_event_identities(&mut Tx::Lite(w), requests)
                .await?;
            let events: Vec<&ConsentEvent> = requests.iter().flat_map(|r| &r.events).collect();
            insert_event_rows_lite(w, &events)?;
            return tx.commit();
        }
        let mut tx = self.db.begin_write().await?;
        self.resolve_event_identities(&mut Tx::Sqlx(&mut tx), requests)
            .await?;
        let events: Vec<&ConsentEvent> = requests.iter().flat_map(|r| &r.events).collect();
        insert_event_rows(self, &mut tx, &events).await?;
        tx.commit().await.map_err(db_err)
    }

    async fn insert_consent_events(
        &self,
        events: &[accord_core::consent::ConsentEvent],
    ) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let events: Vec<&ConsentEvent> = events.iter().collect();
        if let Some(w) = self.db.lite_writer.as_deref() {
            let _held = self.db.write.acquire().await.map_err(db_err)?;
            let tx = LiteTx::begin(w)?;
            insert_event_rows_lite(w, &events)?;
            return tx.commit();
        }
        let mut tx = self.db.begin_write().await?;
        insert_event_rows(self, &mut tx, &events).await?;
        tx.commit().await.map_err(db_err)
    }

    async fn get_consent_event(
        &self,
        org: Uuid,
        project: Uuid,
        id: Uuid,
    ) -> Result<Option<accord_core::consent::ConsentEvent>> {
        let mut q = Query::select();
        q.columns(EVENT_COLUMNS.map(a))
            .from(a("consent_events"))
            .cond_where(in_scope(org, project))
            .and_where(Expr::col(a("id")).eq(id.to_string()));
        let row: Option<EventRow> = one(&self.db, &self.db.read, &q).await?;
        row.map(EventRow::into_model).transpose()
    }

    async fn list_consent_events(
        &self,
        f: &accord_core::consent::ConsentEventFilter,
        page: &Page,
    ) -> Result<(i64, Vec<accord_core::consent::ConsentEvent>)> {
        let mut c = in_scope(f.organization_id, f.project_id);
        if let Some(v) = f.start_date {
            c = c.add(Expr::col(a("consent_date")).gte(v));
        }
        if let Some(v) = f.end_date {
            c = c.add(Expr::col(a("consent_date")).lt(v));
        }
        for (col, values) in [
            ("category", &f.category),
            ("consent_state", &f.consent_state),
            ("consent_action", &f.consent_action),
        ] {
            if !values.is_empty() {
                c = c.add(Expr::col(a(col)).is_in(values.iter().cloned()));
            }
        }
        if !f.subcategory.is_empty() {
            c = c.add(any_of_holds("subcategory", &f.subcategory));
        }
        if let Some(v) = &f.label {
            c = c.add(Expr::col(a("label")).eq(v.clone()));
        }
        if let Some(v) = f.consent_type {
            c = c.add(Expr::col(a("consent_type_id")).eq(v.to_string()));
        }
        let exact_lower = [
            ("concord_id", &f.concord_id),
            ("submitter", &f.submitter),
            ("session_id", &f.session_id),
            ("session_domain", &f.domain),
        ];
        for (col, v) in exact_lower {
            if let Some(v) = v {
                c = c.add(Expr::col(a(col)).eq(v.trim().to_lowercase()));
            }
        }
        if let Some(v) = &f.geography {
            c = c.add(Expr::col(a("session_geography")).eq(v.trim().to_uppercase()));
        }
        let sort = match page.sort.as_str() {
            "consentDate" => ("consent_date", false, false),
            "expirationDate" => ("expiration_date", false, false),
            "consentState" => ("consent_state", true, false),
            "consentAction" => ("consent_action", true, false),
            "category" => ("category", true, false),
            "label" => ("label", true, true),
            _ => ("date_created", false, false),
        };
        let (total, rows) =
            page_of::<EventRow>(self, "consent_events", &EVENT_COLUMNS, c, sort, page).await?;
        let items = rows
            .into_iter()
            .map(EventRow::into_model)
            .collect::<Result<_>>()?;
        Ok((total, items))
    }

    async fn consent_event_days(
        &self,
        org: Uuid,
        project: Uuid,
        start: i64,
        end: i64,
        split: accord_core::consent::DaySplit,
    ) -> Result<Vec<accord_core::consent::DayCount>> {
        event_days(self, org, project, start, end, split).await
    }

    async fn current_state_counts(
        &self,
        org: Uuid,
        project: Uuid,
        now: i64,
    ) -> Result<Vec<accord_core::consent::CurrentStateCount>> {
        state_counts(self, org, project, now).await
    }

    async fn find_identity(
        &self,
        org: Uuid,
        project: Uuid,
        lookup: &accord_core::consent::IdentityLookup,
    ) -> Result<Option<accord_core::consent::Identity>> {
        let (column, value) = lookup.column_value();
        if value.is_empty() {
            return Ok(None);
        }
        let mut conn = self.db.read.acquire().await.map_err(db_err)?;
        identity_by(self, &mut conn, org, project, column, value).await
    }

    async fn consent_state(
        &self,
        org: Uuid,
        project: Uuid,
        concord_id: Uuid,
        active_only: bool,
    ) -> Result<Vec<accord_core::consent::ConsentStateItem>> {
        let now = now_ms();
        let mut conn = self.db.read.acquire().await.map_err(db_err)?;
        let group = identity_group(self, &mut conn, project, concord_id).await?;
        let types: HashMap<Uuid, ConsentType> =
            types_in(self, &mut conn, org, project, active_only)
                .await?
                .into_iter()
                .map(|t| (t.id, t))
                .collect();
        let mut q = Query::select();
        q.columns(EVENT_COLUMNS.map(a))
            .from(a("consent_events"))
            .cond_where(in_scope(org, project))
            .and_where(Expr::col(a("concord_id")).is_in(group))
            .and_where(Expr::col(a("consent_type_id")).is_not_null())
            .and_where(Expr::col(a("expiration_date")).gt(now));
        let rows: Vec<EventRow> = all(&self.db, &mut *conn, &q).await?;
        let events = rows
            .into_iter()
            .map(EventRow::into_model)
            .collect::<Result<Vec<_>>>()?;
        Ok(consent::fold_state(&events, &types, now))
    }

    async fn list_identities(
        &self,
        f: &accord_core::consent::IdentityFilter,
        page: &Page,
    ) -> Result<(i64, Vec<accord_core::consent::Identity>)> {
        let mut c = in_scope(f.organization_id, f.project_id);
        let lookups = [
            f.email.clone().map(IdentityLookup::Email),
            f.phone_number.clone().map(IdentityLookup::PhoneNumber),
            f.user_id.clone().map(IdentityLookup::UserId),
            f.project_user_id.clone().map(IdentityLookup::ProjectUserId),
            f.concord_id.clone().map(IdentityLookup::ConcordId),
        ];
        for l in lookups.into_iter().flatten() {
            let (col, v) = l.column_value();
            c = c.add(Expr::col(a(col)).eq(v));
        }
        let sort = match page.sort.as_str() {
            "dateUpdated" => ("date_updated", false, false),
            _ => ("date_created", false, false),
        };
        let (total, rows) =
            page_of::<IdentityRow>(self, "identities", &IDENTITY_COLUMNS, c, sort, page).await?;
        let items = rows
            .into_iter()
            .map(IdentityRow::into_model)
            .collect::<Result<_>>()?;
        Ok((total, items))
    }

    async fn get_identity(
        &self,
        org: Uuid,
        project: Uuid,
        id: Uuid,
    ) -> Result<Option<accord_core::consent::Identity>> {
        let mut q = select_identities(org, project);
        q.and_where(Expr::col(a("id")).eq(id.to_string()));
        let row: Option<IdentityRow> = one(&self.db, &self.db.read, &q).await?;
        row.map(IdentityRow::into_model).transpose()
    }

    async fn erase_identity(
        &self,
        org: Uuid,
        project: Uuid,
        id: Uuid,
        include_compliance_requests: bool,
        actor: Actor,
    ) -> Result<Option<accord_core::consent::Erasure>> {
        let done = identity_erase(self, org, project, id, include_compliance_requests, actor).await;
        self.caches.sessions.clear();
        done
    }
}
