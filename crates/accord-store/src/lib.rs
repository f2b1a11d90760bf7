//! Accord's storage on SQLite and PostgreSQL: [`SqlStore`] implements each area trait of
//! `accord_core::store` in a file of its own (`tenancy.rs`, `requests.rs`, `lifecycle.rs`
//! for messages and jobs, `consent.rs`, `site.rs`, `datamap.rs`, `regions.rs`, `users.rs`, `policies.rs`, `metrics.rs`, `trackers.rs`). Statements are sea-query
//! statements rendered per dialect by [`db::Db::sql`], except the bulk consent-event inserts
//! (multi-row `VALUES` on SQLite, a JSON array on PostgreSQL); the differences between the two databases stay in `db.rs`, the shared
//! paging and substring filters in `paging.rs`. On SQLite, compliance-request creates are
//! group-committed by one writer task (`creates.rs`).
#![forbid(unsafe_code)]

mod cache;
mod consent;
mod console;
mod creates;
mod datamap;
pub mod db;
mod identities;
mod lifecycle;
mod lite;
mod metrics;
mod migrate;
mod notifications;
mod paging;
mod policies;
mod regions;
mod requests;
mod rows;
mod site;
mod tenancy;
mod trackers;
mod users;

use accord_core::auth::{Permission, Principal, Role};
use accord_core::compliance::{
    self, Actor, ComplianceRequest, DataSystemSummary, EventFilter, NewEvent, RequestEvent,
    RequestFilter,
};
use accord_core::ids::new_id;
use accord_core::query::Page;
use accord_core::store::prelude::*;
use accord_core::store::{
    ApiKey, ChallengeKey, CreateFacts, NewApiKey, NewOrganization, NewProject, Organization,
    PlanFn, Project, UpdateFn, Verification, VerifyFn,
};
use accord_core::store::{Entity, Key, StoreError, StoreResult as Result};
use accord_core::time::now_ms;
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
    creates: creates::CreateQueue,
}

pub(crate) fn a(name: &str) -> Alias {
    Alias::new(name)
}

pub(crate) fn uid(s: &str) -> Result<Uuid> {
    Uuid::parse_str(s).map_err(StoreError::backend)
}

async fn all<'e, T, E>(
    db: &Db,
    ex: E,
    stmt: &impl sea_query::QueryStatementBuilder,
) -> Result<Vec<T>>
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
    stmt: &impl sea_query::QueryStatementBuilder,
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

async fn exec<'e, E>(db: &Db, ex: E, stmt: &impl sea_query::QueryStatementBuilder) -> Result<u64>
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

/// Where the statements of a write transaction run: an sqlx connection, or on SQLite the
/// writer's own connection, stepped on the calling thread (see `lite.rs` and `creates.rs`).
pub(crate) enum Tx<'c> {
    Sqlx(&'c mut sqlx::AnyConnection),
    Lite(&'c lite::LiteWriter),
}

impl Tx<'_> {
    /// [`one`] in this transaction.
    async fn one<T>(
        &mut self,
        db: &Db,
        stmt: &impl sea_query::QueryStatementBuilder,
    ) -> Result<Option<T>>
    where
        T: for<'r> FromRow<'r, AnyRow> + Send + Unpin + lite::FromLite,
    {
        match self {
            Tx::Sqlx(c) => one(db, &mut **c, stmt).await,
            Tx::Lite(_) => Ok(self.all(db, stmt).await?.into_iter().next()),
        }
    }

    /// [`all`] in this transaction.
    async fn all<T>(
        &mut self,
        db: &Db,
        stmt: &impl sea_query::QueryStatementBuilder,
    ) -> Result<Vec<T>>
    where
        T: for<'r> FromRow<'r, AnyRow> + Send + Unpin + lite::FromLite,
    {
        match self {
            Tx::Sqlx(c) => all(db, &mut **c, stmt).await,
            Tx::Lite(w) => {
                let (sql, values) = db.sql(stmt);
                w.rows(&sql, &values.0 .0, T::from_lite)
            }
        }
    }

    /// [`exec`] in this transaction.
    async fn exec(&mut self, db: &Db, stmt: &impl sea_query::QueryStatementBuilder) -> Result<u64> {
        match self {
            Tx::Sqlx(c) => exec(db, &mut **c, stmt).await,
            Tx::Lite(w) => {
                let (sql, values) = db.sql(stmt);
                w.execute(&sql, &values.0 .0)
            }
        }
    }

    /// [`exec_all`] in this transaction: on the writer's own connection, each statement
    /// prepared once and kept.
    async fn exec_all<S: sea_query::QueryStatementBuilder>(
        &mut self,
        db: &Db,
        stmts: &[S],
    ) -> Result<()> {
        match self {
            Tx::Sqlx(c) => exec_all(db, c, stmts).await,
            Tx::Lite(w) => {
                for stmt in stmts {
                    let (sql, values) = db.sql(stmt);
                    w.execute(&sql, &values.0 .0)?;
                }
                Ok(())
            }
        }
    }

    /// Runs a rendered statement (see [`Db::kept`]); the rows it changed.
    async fn exec_sql(
        &mut self,
        (sql, values): (&str, sea_query_binder::SqlxValues),
    ) -> Result<u64> {
        match self {
            Tx::Sqlx(c) => sqlx::query_with(sql, values)
                .execute(&mut **c)
                .await
                .map(|r| r.rows_affected())
                .map_err(db_err),
            Tx::Lite(w) => w.execute(sql, &values.0 .0),
        }
    }

    /// Runs a statement of fixed text with integer values; the rows it changed.
    async fn run(&mut self, sql: &str, values: &[i64]) -> Result<u64> {
        let values: Vec<sea_query::Value> = values.iter().map(|&v| v.into()).collect();
        match self {
            Tx::Sqlx(c) => {
                sqlx::query_with(sql, sea_query_binder::SqlxValues(sea_query::Values(values)))
                    .execute(&mut **c)
                    .await
                    .map(|r| r.rows_affected())
                    .map_err(db_err)
            }
            Tx::Lite(w) => w.execute(sql, &values),
        }
    }

    /// Runs statements of fixed text without values (`SAVEPOINT …`), in order.
    async fn batch(&mut self, sql: &str) -> Result<()> {
        match self {
            Tx::Sqlx(c) => sqlx::query(sql)
                .execute(&mut **c)
                .await
                .map(|_| ())
                .map_err(db_err),
            Tx::Lite(w) => w.batch(sql),
        }
    }

    /// The integer a statement of fixed text answers (its first row's first column).
    async fn integer(&mut self, sql: &str) -> Result<i64> {
        match self {
            Tx::Sqlx(c) => sqlx::query_scalar(sql)
                .fetch_one(&mut **c)
                .await
                .map_err(db_err),
            Tx::Lite(w) => w
                .rows(sql, &[], |r| r.get::<_, i64>(0))?
                .pop()
                .ok_or_else(|| StoreError::backend("a query for one integer gave no row")),
        }
    }
}

/// Statements of a query that [`exec_all`] keeps prepared at most.
const KEPT_QUERY_STATEMENTS: usize = 4;

/// Runs statements that answer no rows, in order, on one connection. On SQLite they go to
/// the driver as one query, whose statements it runs in turn, each taking its bound values
/// in order: one round trip to the driver's thread instead of one per statement. PostgreSQL
/// runs each on its own (a query of its extended protocol holds one statement).
async fn exec_all<S: sea_query::QueryStatementBuilder>(
    db: &Db,
    ex: &mut sqlx::AnyConnection,
    stmts: &[S],
) -> Result<()> {
    if db.backend == Backend::Sqlite && stmts.len() > 1 {
        let mut sql = String::new();
        let mut values = Vec::new();
        for stmt in stmts {
            let (text, bound) = db.sql(stmt);
            sql.push_str(&text);
            sql.push_str(";\n");
            values.extend(bound.0 .0);
        }
        let values = sea_query_binder::SqlxValues(sea_query::Values(values));
        // The driver keeps a prepared query per text; a create's few common shapes are
        // kept, and longer ones (array creates) are not, so as not to fill its cache.
        sqlx::query_with(&sql, values)
            .persistent(stmts.len() <= KEPT_QUERY_STATEMENTS)
            .execute(ex)
            .await
            .map_err(db_err)?;
        return Ok(());
    }
    for stmt in stmts {
        exec(db, &mut *ex, stmt).await?;
    }
    Ok(())
}

async fn count<'e, E>(db: &Db, ex: E, stmt: &impl sea_query::QueryStatementBuilder) -> Result<i64>
where
    E: sqlx::Executor<'e, Database = Any>,
{
    let (sql, values) = db.sql(stmt);
    sqlx::query_scalar_with::<_, i64, _>(&sql, values)
        .fetch_one(ex)
        .await
        .map_err(db_err)
}

/// A rendered statement (see [`Db::kept`]) on the read connections: on SQLite on the
/// calling thread (see `lite.rs`), each row decoded by `lite`.
async fn read_all_sql<T>(
    db: &Db,
    (sql, values): (&str, sea_query_binder::SqlxValues),
    lite: paging::LiteRow<T>,
) -> Result<Vec<T>>
where
    T: for<'r> FromRow<'r, AnyRow> + Send + Unpin,
{
    if let Some(readers) = &db.lite {
        return readers.rows(sql, &values.0 .0, lite);
    }
    sqlx::query_as_with::<_, T, _>(sql, values)
        .fetch_all(&db.read)
        .await
        .map_err(db_err)
}

/// [`count`] on the read connections: on SQLite on the calling thread (see `lite.rs`).
async fn read_count(db: &Db, stmt: &impl sea_query::QueryStatementBuilder) -> Result<i64> {
    if let Some(readers) = &db.lite {
        let (sql, values) = db.sql(stmt);
        return readers.integer(&sql, &values.0 .0);
    }
    count(db, &db.read, stmt).await
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

impl SqlStore {}
