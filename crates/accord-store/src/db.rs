//! The one place where SQLite and PostgreSQL differ: connecting, pragmas, migrations,
//! row locks and the query-builder dialect. Everything else renders sea-query statements
//! through [`Db::sql`].
use crate::lite::{Checkpointer, LiteReaders, LiteWriter};
use accord_core::store::{StoreError, StoreResult as Result};
use sea_query::{
    Alias, Expr, Func, LikeExpr, PostgresQueryBuilder, Query, QueryBuilder, QueryStatementBuilder,
    SimpleExpr, SqlWriter, SqliteQueryBuilder, Value, Values,
};
use sea_query_binder::SqlxValues;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions, Executor};
use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Connection pools. SQLite gets a single writer connection so write transactions queue in
/// process instead of failing with `SQLITE_BUSY` (batches of creates and of consent events
/// are written through a second one, `lite_writer`, while they hold it); PostgreSQL uses
/// one pool for both.
#[derive(Clone)]
pub struct Db {
    pub backend: Backend,
    pub read: AnyPool,
    pub write: AnyPool,
    /// SQLite readers run on the calling thread (see `lite.rs`), for a database in a file.
    pub(crate) lite: Option<Arc<LiteReaders>>,
    /// Checkpoints the write-ahead log of a database in a file (see `lite.rs`).
    checkpointer: Option<Arc<Checkpointer>>,
    /// The writer's own connection to a database in a file, for batches of creates and of
    /// consent events.
    pub(crate) lite_writer: Option<Arc<LiteWriter>>,
    /// The trigram each recent substring search was answered from, by column and needle
    /// (see [`Db::rarest_trigram`]).
    trigram_choices: Arc<TrigramChoices>,
}

/// The choices of [`Db::rarest_trigram`], by column and needle (lowercase).
type TrigramChoices = crate::cache::TtlMap<(String, String), Option<String>>;

/// How long a trigram choice is reused. The choice steers the plan only: any trigram of
/// the needle selects every match (each candidate is then tested against the whole
/// needle), so one gone stale since costs time, never a row.
const TRIGRAM_CHOICE_TTL: Duration = Duration::from_secs(10);

/// How long the first connection to PostgreSQL may take at start.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub fn db_err(e: sqlx::Error) -> StoreError {
    StoreError::backend(e)
}

/// True when the error is a unique-constraint violation.
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => {
            d.code()
                .is_some_and(|c| c == "23505" || c == "2067" || c == "1555")
                || d.message().contains("UNIQUE constraint failed")
        }
        _ => false,
    }
}

type BoxFut<'c> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), sqlx::Error>> + Send + 'c>>;

/// The writer connection: WAL, and planner statistics refreshed when it opens. Statistics
/// are written, so only the writer runs `PRAGMA optimize`. Its page cache is larger than a
/// reader's: every appended consent event updates several indexes at scattered pages (on a
/// database in a file, batches of consent events and of creates are written through
/// [`LiteWriter`] instead, whose page cache is a reader's: 8 MiB measured as fast there,
/// and the memory stays within bounds).
/// Its temporary storage (statement journals of multi-row writes) stays in memory: on
/// disk, SQLite created, unlinked and closed a file for nearly every batch it wrote.
/// The write-ahead log is copied into the database (checkpointed) by a thread of its own
/// ([`Checkpointer`]); the writer does it only when the log has grown to 16,000 pages
/// (64 MB), should that thread fall behind. With SQLite's threshold of 1,000 pages,
/// consent ingestion checkpointed from its commits several times a second (11 % of the
/// server's CPU), and the writes queued behind such a commit waited for it.
fn sqlite_writer_pragmas(
    conn: &mut sqlx::AnyConnection,
    _meta: sqlx::pool::PoolConnectionMetadata,
) -> BoxFut<'_> {
    Box::pin(async move {
        conn.execute("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=16000; PRAGMA busy_timeout=10000; PRAGMA foreign_keys=ON; PRAGMA cache_size=-16384; PRAGMA temp_store=MEMORY; PRAGMA analysis_limit=1000; PRAGMA optimize=0x10002;")
            .await?;
        Ok(())
    })
}

/// Reader connections never take the write lock (`query_only`), so the single writer's
/// transactions cannot meet `SQLITE_BUSY` from them.
fn sqlite_reader_pragmas(
    conn: &mut sqlx::AnyConnection,
    _meta: sqlx::pool::PoolConnectionMetadata,
) -> BoxFut<'_> {
    Box::pin(async move {
        conn.execute("PRAGMA busy_timeout=10000; PRAGMA foreign_keys=ON; PRAGMA cache_size=-8192; PRAGMA query_only=1;")
            .await?;
        Ok(())
    })
}

impl Db {
    /// Connects to `sqlite://PATH` (created if missing) or `postgres://…`.
    pub async fn connect(url: &str) -> Result<Db> {
        sqlx::any::install_default_drivers();
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            let path = path.split('?').next().unwrap_or(path);
            if path != ":memory:" {
                if let Some(parent) = std::path::Path::new(path)
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                {
                    std::fs::create_dir_all(parent).map_err(StoreError::backend)?;
                }
            }
            let full = format!("sqlite://{path}?mode=rwc");
            let opts = AnyConnectOptions::from_str(&full)
                .map_err(db_err)?
                .disable_statement_logging();
            let write = AnyPoolOptions::new()
                .max_connections(1)
                .after_connect(sqlite_writer_pragmas)
                .connect_with(opts.clone())
                .await
                .map_err(db_err)?;
            // Page caches are per connection and fill up on large databases: 16 MiB for the
            // writer, 4 readers of 8 MiB and the in-place readers (8 MiB each, one per
            // runtime thread, see `lite.rs`) keep the server's resident memory under 200 MB.
            let read = AnyPoolOptions::new()
                .max_connections(4)
                .after_connect(sqlite_reader_pragmas)
                .connect_with(opts)
                .await
                .map_err(db_err)?;
            // The file as sqlx opens it (its URL path percent-decoded).
            let (lite, checkpointer, lite_writer) = if path == ":memory:" {
                (None, None, None)
            } else {
                let file = sqlx::sqlite::SqliteConnectOptions::from_str(&full).map_err(db_err)?;
                let file = file.get_filename();
                let checkpointer = Checkpointer::start(file).map_err(StoreError::backend)?;
                let writer = LiteWriter::open(file).map_err(StoreError::backend)?;
                (
                    Some(Arc::new(LiteReaders::new(file))),
                    Some(Arc::new(checkpointer)),
                    Some(Arc::new(writer)),
                )
            };
            Ok(Db {
                backend: Backend::Sqlite,
                read,
                write,
                lite,
                checkpointer,
                lite_writer,
                trigram_choices: Arc::new(TrigramChoices::new(TRIGRAM_CHOICE_TTL)),
            })
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let opts = AnyConnectOptions::from_str(url)
                .map_err(db_err)?
                .disable_statement_logging();
            // One attempt first, so that a server that is down or refuses is reported at
            // once rather than after the pool's acquire timeout of retries.
            match tokio::time::timeout(CONNECT_TIMEOUT, opts.connect()).await {
                Ok(Ok(probe)) => drop(probe),
                Ok(Err(e)) => return Err(StoreError::Unavailable(e.to_string())),
                Err(_) => {
                    return Err(StoreError::Unavailable(format!(
                        "no answer within {} s",
                        CONNECT_TIMEOUT.as_secs()
                    )))
                }
            }
            let pool = AnyPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(opts)
                .await
                .map_err(db_err)?;
            Ok(Db {
                backend: Backend::Postgres,
                read: pool.clone(),
                write: pool,
                lite: None,
                checkpointer: None,
                lite_writer: None,
                trigram_choices: Arc::new(TrigramChoices::new(TRIGRAM_CHOICE_TTL)),
            })
        } else {
            Err(StoreError::backend("unsupported database URL scheme"))
        }
    }

    /// Closes every connection: the pools, SQLite's in-place readers, its writer's own
    /// connection and its checkpointer. Later statements fail.
    pub async fn close(&self) {
        if let Some(readers) = &self.lite {
            readers.close();
        }
        if let Some(checkpointer) = &self.checkpointer {
            checkpointer.stop();
        }
        if let Some(writer) = &self.lite_writer {
            writer.close();
        }
        self.write.close().await;
        self.read.close().await;
    }

    /// Size and idle connections of each pool.
    pub fn pool_stats(&self) -> Vec<accord_core::store::PoolStats> {
        let stat = |pool: &'static str, p: &AnyPool| accord_core::store::PoolStats {
            pool,
            size: p.size(),
            idle: p.num_idle() as u32,
        };
        match self.backend {
            Backend::Sqlite => vec![stat("read", &self.read), stat("write", &self.write)],
            Backend::Postgres => vec![stat("write", &self.write)],
        }
    }

    /// Renders a statement in this database's dialect. On PostgreSQL a `LIMIT` or `OFFSET`
    /// is written as a number rather than a parameter (see [`PgSql`]).
    pub fn sql<S: QueryStatementBuilder>(&self, stmt: &S) -> (String, SqlxValues) {
        let (sql, values) = render(self.backend, stmt);
        (sql, SqlxValues(values))
    }

    /// The value of `column` as an expression no index serves, so that a condition or an
    /// order on it does not pick the planner's index: `("col" || '')` for text (compared
    /// byte-wise on PostgreSQL), `("col" + 0)` for a number.
    pub fn unindexed(&self, column: &str, text: bool) -> SimpleExpr {
        match (text, self.backend) {
            (true, Backend::Postgres) => Expr::cust(format!("(\"{column}\" || '') COLLATE \"C\"")),
            (true, Backend::Sqlite) => Expr::cust(format!("(\"{column}\" || '')")),
            (false, _) => Expr::cust(format!("(\"{column}\" + 0)")),
        }
    }

    /// A row's `columns` as one JSON array (text), in their order; a column named in `left_out`
    /// is given as `null` (the caller does not need its value). On PostgreSQL every value is
    /// given as text (an integer as its decimal digits): `json_build_array` looked up the
    /// type of each of its arguments at every row, as much time as the page's own read,
    /// while an array of one type is converted with one look-up a row.
    pub fn json_row(&self, columns: &[&str], left_out: &[&str]) -> SimpleExpr {
        let values: Vec<String> = columns
            .iter()
            .map(|c| match (left_out.contains(c), self.backend) {
                (true, _) => "NULL".to_string(),
                (false, Backend::Sqlite) => format!("\"{c}\""),
                (false, Backend::Postgres) => format!("\"{c}\"::text"),
            })
            .collect();
        let values = values.join(", ");
        Expr::cust(match self.backend {
            Backend::Postgres => format!("array_to_json(ARRAY[{values}])::text"),
            Backend::Sqlite => format!("json_array({values})"),
        })
    }

    /// Case-insensitive substring match of `needle` in a compliance-request text column.
    /// `column` names the stored column; `lowered` says whether it already holds lowercase
    /// text. SQLite answers from its FTS5 trigram table, PostgreSQL from trigram GIN indexes.
    /// `narrowed` says that another condition selects few rows through an index of its own
    /// (on SQLite any date range or an exact id; on PostgreSQL a range with both ends or an
    /// exact id): SQLite then tests an ASCII needle on those rows alone (its `LIKE` folds
    /// ASCII case, as the trigram table does) instead of reading every trigram match of the
    /// needle, and PostgreSQL tests any needle on them.
    ///
    /// `rarest` (SQLite, see [`Db::rarest_trigram`]) is the needle's trigram found in the
    /// fewest rows: the trigram table then reads that one posting list instead of every
    /// trigram's, and the whole needle is matched on those candidates only. A whole email
    /// address goes by its local part first: that phrase is rarer than any one trigram.
    pub fn request_substring(
        &self,
        column: &str,
        lowered: bool,
        needle: &str,
        narrowed: bool,
        rarest: Option<&str>,
    ) -> SimpleExpr {
        let needle = needle.to_lowercase();
        let plain = !needle.contains(['%', '_', '\\']);
        if let Some(rare) = rare_part(column, &needle).filter(|_| plain) {
            // A trigram index reads the posting list of every trigram of the pattern, and
            // the trigrams of a mailbox's domain (`exa`, `.co`, …) are in nearly every row:
            // select candidates by the local part alone, then match the whole value on the
            // candidates only (an expression no index serves). Same rows, far less read.
            let whole =
                Expr::expr(self.unindexed(column, true)).like(LikeExpr::new(format!("%{needle}%")));
            // `rarest` is then the local part's rarest trigram (see `rarest_trigram`).
            return self
                .request_substring(column, lowered, rare, narrowed, rarest)
                .and(whole);
        }
        if let Some(tri) = rarest.filter(|_| plain && !narrowed) {
            let mut sub = Query::select();
            sub.column(Alias::new("rowid"))
                .from(Alias::new("compliance_requests_search"))
                .and_where(Expr::cust_with_values(
                    "\"compliance_requests_search\" MATCH ?",
                    [fts_phrase(column, tri)],
                ));
            let whole =
                Expr::expr(self.unindexed(column, true)).like(LikeExpr::new(format!("%{needle}%")));
            return Expr::col(Alias::new("seq")).in_subquery(sub).and(whole);
        }
        if self.backend == Backend::Sqlite && plain && !(narrowed && needle.is_ascii()) {
            let mut sub = Query::select();
            sub.column(Alias::new("rowid"))
                .from(Alias::new("compliance_requests_search"))
                .and_where(Expr::col(Alias::new(column)).like(format!("%{needle}%")));
            return Expr::col(Alias::new("seq")).in_subquery(sub);
        }
        let escaped = needle
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        let pattern = LikeExpr::new(format!("%{escaped}%")).escape('\\');
        if narrowed && self.backend == Backend::Postgres {
            // The range's rows are tested, as on SQLite: written so that no trigram index
            // serves it, as PostgreSQL would otherwise intersect the range with every row
            // of a common trigram (an email's domain is in most rows).
            let value = if lowered {
                self.unindexed(column, true)
            } else {
                Expr::cust(format!("(lower(\"{column}\") || '')"))
            };
            return Expr::expr(value).like(pattern);
        }
        if lowered {
            Expr::col(Alias::new(column)).like(pattern)
        } else {
            Expr::expr(Func::lower(Expr::col(Alias::new(column)))).like(pattern)
        }
    }
}

/// An FTS5 query of one phrase in one column of the trigram table.
fn fts_phrase(column: &str, phrase: &str) -> String {
    format!("{column} : \"{}\"", phrase.replace('"', "\"\""))
}

/// Trigrams of a needle examined for [`Db::rarest_trigram`] at most, and matches counted per
/// trigram at most: enough to tell a rare trigram from a common one, bounded work. The
/// counts are first read up to [`TRIGRAM_FIRST_CAP`], which settles the common case of a
/// needle with one rare trigram (a name, an address) for a few thousand index entries; only
/// when every trigram reaches it are they counted again up to [`TRIGRAM_COUNT_CAP`].
const TRIGRAMS_EXAMINED: usize = 12;
const TRIGRAM_FIRST_CAP: i64 = 500;
const TRIGRAM_COUNT_CAP: i64 = 20_000;
/// Rows of a trigram few enough that a search need not look for a rarer one (SQLite, in
/// place): testing each of them costs less than counting another trigram's.
const RARE_ENOUGH: i64 = 64;

impl Db {
    /// On SQLite, for a plain ASCII needle of more than three characters searched in
    /// `column`: the needle's (lowercase) trigram found in the fewest rows of the trigram
    /// table, counted up to [`TRIGRAM_FIRST_CAP`], and up to [`TRIGRAM_COUNT_CAP`] only when
    /// every count reaches the first cap (see [`Db::fewest`] for how they are read).
    /// `None` elsewhere: the trigram table's own `LIKE` is then as good.
    ///
    /// The choice is reused for [`TRIGRAM_CHOICE_TTL`]: a look-up repeated by a team or a
    /// polling integration counts its trigrams once, not at every call.
    pub async fn rarest_trigram(&self, column: &str, needle: &str) -> Result<Option<String>> {
        let key = (column.to_string(), needle.to_lowercase());
        let choices = self.trigram_choices.clone();
        choices
            .get_or_read(key, |_| true, || self.count_rarest_trigram(column, needle))
            .await
    }

    /// [`Db::rarest_trigram`], counted afresh.
    async fn count_rarest_trigram(&self, column: &str, needle: &str) -> Result<Option<String>> {
        let whole = needle.to_lowercase();
        // A whole email address is searched by its local part (`request_substring`): the
        // rarest trigram is that part's.
        let needle = rare_part(column, &whole).unwrap_or(&whole);
        if self.backend != Backend::Sqlite
            || !needle.is_ascii()
            || needle.len() <= 3
            || needle.contains(['%', '_', '\\'])
        {
            return Ok(None);
        }
        let mut trigrams: Vec<&str> = (0..=needle.len() - 3).map(|i| &needle[i..i + 3]).collect();
        trigrams.sort_unstable();
        trigrams.dedup();
        if trigrams.len() > TRIGRAMS_EXAMINED {
            let step = trigrams.len() as f64 / TRIGRAMS_EXAMINED as f64;
            trigrams = (0..TRIGRAMS_EXAMINED)
                .map(|i| trigrams[(i as f64 * step) as usize])
                .collect();
        }
        for cap in [TRIGRAM_FIRST_CAP, TRIGRAM_COUNT_CAP] {
            let best = self.fewest(column, &trigrams, cap).await?;
            if best.is_none_or(|(n, _)| n < cap) || cap == TRIGRAM_COUNT_CAP {
                return Ok(best.map(|(_, t)| t.to_string()));
            }
        }
        Ok(None)
    }

    /// The trigram of `trigrams` with the fewest rows in `column` of the trigram table, each
    /// count stopped at `cap`. Through sqlx all are read in one statement (a statement is a
    /// round trip to the driver's thread). Read in place on SQLite (see `lite.rs`), they
    /// are counted one by one, and the first found in fewer than [`RARE_ENOUGH`] rows is
    /// taken without counting the others: its rows are few enough to test each.
    async fn fewest<'t>(
        &self,
        column: &str,
        trigrams: &[&'t str],
        cap: i64,
    ) -> Result<Option<(i64, &'t str)>> {
        let count = format!("(SELECT COUNT(*) FROM (SELECT 1 FROM compliance_requests_search WHERE compliance_requests_search MATCH ? LIMIT {cap}))");
        let mut best: Option<(i64, &'t str)> = None;
        let mut keep = |n: i64, t: &'t str| {
            if best.is_none_or(|(m, _)| n < m) {
                best = Some((n, t));
            }
        };
        if let Some(readers) = &self.lite {
            let sql = format!("SELECT {count}");
            for t in trigrams {
                let phrase = sea_query::Value::from(fts_phrase(column, t));
                let n = readers.integer(&sql, &[phrase])?;
                keep(n, t);
                if n < RARE_ENOUGH {
                    break;
                }
            }
            return Ok(best);
        }
        let sql = format!("SELECT {}", vec![count; trigrams.len()].join(", "));
        let mut q = sqlx::query(&sql);
        for t in trigrams {
            q = q.bind(fts_phrase(column, t));
        }
        let row = q.fetch_one(&self.read).await.map_err(db_err)?;
        for (i, t) in trigrams.iter().enumerate() {
            keep(sqlx::Row::try_get(&row, i).map_err(db_err)?, t);
        }
        Ok(best)
    }
}

/// For a whole email address searched in the lowercase email column: its local part with
/// the `@`, when that is long enough for a trigram (three characters or more).
fn rare_part<'a>(column: &str, needle: &'a str) -> Option<&'a str> {
    if column != "user_email_lower" {
        return None;
    }
    let at = needle.find('@')?;
    let (local, domain) = needle.split_at(at + 1);
    (local.chars().count() >= 3 && domain.len() > 1).then_some(local)
}

impl Db {
    /// Refreshes the statistics the SQLite planner relies on (bounded work; a no-op on
    /// PostgreSQL, whose autovacuum does this). Run at start and periodically.
    pub async fn optimize(&self) -> Result<()> {
        if self.backend == Backend::Sqlite {
            let mut conn = self.write.acquire().await.map_err(db_err)?;
            conn.execute("PRAGMA analysis_limit=1000; PRAGMA optimize=0x10002;")
                .await
                .map_err(db_err)?;
        }
        Ok(())
    }

    /// Starts a write transaction. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`), so a transaction never has to upgrade a read snapshot that
    /// another process's write made stale; waiting for the lock obeys `busy_timeout`.
    pub async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        match self.backend {
            Backend::Sqlite => self.write.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.write.begin().await,
        }
        .map_err(db_err)
    }

    /// Whether `SELECT … FOR UPDATE` is needed to lock rows (SQLite serialises writers).
    pub fn locks_rows(&self) -> bool {
        self.backend == Backend::Postgres
    }
}

/// The text of a statement whose shape never changes, only its values, rendered once per
/// backend ([`Db::kept`]): building and rendering such a statement through sea-query on
/// every call (the API key of a write, its project, the row of a new request) cost more
/// CPU than running it.
pub(crate) struct KeptSql {
    sqlite: OnceLock<String>,
    postgres: OnceLock<String>,
}

impl KeptSql {
    pub const fn new() -> Self {
        KeptSql {
            sqlite: OnceLock::new(),
            postgres: OnceLock::new(),
        }
    }
}

impl Db {
    /// The kept text of `slot` for this backend (rendered from `build()` on first use) and
    /// `values`: what [`Db::sql`] gives for `build()`, whose values are `values` in the
    /// order the statement holds them. Debug builds (the tests) render `build()` at every
    /// call and check that the text and the values agree.
    pub(crate) fn kept<S: QueryStatementBuilder>(
        &self,
        slot: &'static KeptSql,
        values: Vec<sea_query::Value>,
        build: impl FnOnce() -> S,
    ) -> (&'static str, SqlxValues) {
        let cell = match self.backend {
            Backend::Sqlite => &slot.sqlite,
            Backend::Postgres => &slot.postgres,
        };
        if cfg!(debug_assertions) {
            let (sql, rendered) = self.sql(&build());
            assert_eq!(
                rendered.0 .0, values,
                "a kept statement's values out of order"
            );
            let kept = cell.get_or_init(|| sql.clone());
            assert_eq!(*kept, sql, "a kept statement changed shape");
            return (kept.as_str(), SqlxValues(sea_query::Values(values)));
        }
        let text = cell.get_or_init(|| self.sql(&build()).0);
        (text.as_str(), SqlxValues(sea_query::Values(values)))
    }
}

/// `stmt` in the dialect of `backend`, with its values apart (see [`Db::sql`]).
fn render<S: QueryStatementBuilder>(backend: Backend, stmt: &S) -> (String, Values) {
    match backend {
        Backend::Sqlite => stmt.build_any(&SqliteQueryBuilder),
        Backend::Postgres => {
            let mut out = PgSql::default();
            stmt.build_collect_any_into(&PostgresQueryBuilder, &mut out);
            (out.sql, Values(out.values))
        }
    }
}

/// A statement rendered for PostgreSQL, with its `LIMIT` and `OFFSET` written as numbers
/// and every other value as a numbered parameter. PostgreSQL plans a prepared statement
/// anew at each run (a custom plan) until a plan made without the parameters' values (a
/// generic plan, made once) is estimated to cost no more; a `LIMIT` given as a parameter
/// is estimated to want a tenth of the rows, which priced the generic plan of every page
/// far above its custom one, so every page was planned again at every run: as much
/// PostgreSQL time as running it (`perf`). With the numbers in the text, the generic plan
/// of a page is the plan its custom plans were, and PostgreSQL keeps it after five runs.
/// Plans whose cost depends on a value (a substring pattern, a date range) still weigh
/// the generic plan against the custom ones, as before. A page at another offset is a
/// statement of its own; pages past the first are not kept prepared (`paging.rs`), so
/// that paging deep does not crowd the first pages out of a connection's statement cache.
#[derive(Default)]
struct PgSql {
    sql: String,
    values: Vec<Value>,
    /// The text written last was ` LIMIT ` or ` OFFSET `.
    after_limit: bool,
}

impl std::fmt::Write for PgSql {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.after_limit = matches!(s, " LIMIT " | " OFFSET ");
        self.sql.push_str(s);
        Ok(())
    }
}

impl std::fmt::Display for PgSql {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.sql)
    }
}

impl SqlWriter for PgSql {
    fn push_param(&mut self, value: Value, _: &dyn QueryBuilder) {
        use std::fmt::Write as _;
        let limit = std::mem::take(&mut self.after_limit);
        match value {
            Value::BigUnsigned(Some(n)) if limit => {
                let _ = write!(self.sql, "{n}");
            }
            value => {
                self.values.push(value);
                let _ = write!(self.sql, "${}", self.values.len());
            }
        }
    }

    fn as_writer(&mut self) -> &mut dyn std::fmt::Write {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_query::{Cond, Order};

    /// A page with a condition inside and outside its subquery: the values' order is
    /// kept, and only the page's `LIMIT` and `OFFSET` are written as numbers.
    fn page() -> sea_query::SelectStatement {
        let mut ids = Query::select();
        ids.column(Alias::new("id"))
            .from(Alias::new("t"))
            .cond_where(Cond::all().add(Expr::col(Alias::new("status")).eq("open")))
            .order_by(Alias::new("id"), Order::Desc)
            .limit(50)
            .offset(100);
        let mut q = Query::select();
        q.column(Alias::new("id"))
            .from(Alias::new("t"))
            .and_where(Expr::col(Alias::new("project")).eq("p"))
            .and_where(Expr::col(Alias::new("id")).in_subquery(ids))
            .and_where(Expr::col(Alias::new("n")).eq(7u64))
            .limit(3);
        q
    }

    /// PostgreSQL gets the page's `LIMIT` and `OFFSET` as numbers, every other value as a
    /// numbered parameter in order; SQLite binds them all.
    #[test]
    fn pages_render_their_limit_and_offset_per_database() {
        let value = |v: &str| Value::from(v);
        let (p, open, seven) = (value("p"), value("open"), Value::BigUnsigned(Some(7)));
        let n = |n: u64| Value::BigUnsigned(Some(n));
        for (backend, sql, values) in [
            (
                Backend::Postgres,
                r#"SELECT "id" FROM "t" WHERE "project" = $1 AND "id" IN (SELECT "id" FROM "t" WHERE "status" = $2 ORDER BY "id" DESC LIMIT 50 OFFSET 100) AND "n" = $3 LIMIT 3"#,
                vec![p.clone(), open.clone(), seven.clone()],
            ),
            (
                Backend::Sqlite,
                r#"SELECT "id" FROM "t" WHERE "project" = ? AND "id" IN (SELECT "id" FROM "t" WHERE "status" = ? ORDER BY "id" DESC LIMIT ? OFFSET ?) AND "n" = ? LIMIT ?"#,
                vec![p, open, n(50), n(100), seven, n(3)],
            ),
        ] {
            let rendered = render(backend, &page());
            assert_eq!(rendered.0, sql, "{backend:?}");
            assert_eq!(rendered.1 .0, values, "{backend:?}");
        }
    }
}
