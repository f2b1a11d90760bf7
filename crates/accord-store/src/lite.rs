//! SQLite reads run on the calling thread. sqlx's SQLite driver runs every statement on a
//! worker thread of its own and sends each row back through a channel: a compliance-request
//! page of 50 rows cost two thread switches per statement and a wake-up and a column map per
//! row, about half of the request's CPU (`perf`). The hot reads (compliance-request pages
//! and their totals, the counts read through `read_count`, the trigram counts of a
//! substring search, and through `read_all_sql` the reads of an API key by its
//! digest and of a project by its id, which every writing call makes afresh) instead take
//! a connection of this pool and step the statement where they are. The runtime thread is
//! then busy for the statement's time: the request itself waits no longer than it did for
//! the driver's thread, but other tasks on that runtime thread wait too, until the
//! statement ends or another runtime thread takes them.
//!
//! The connections are readers like sqlx's (`query_only`, the same page cache and busy
//! timeout) on the same file and the same SQLite library; each keeps its prepared
//! statements. PostgreSQL and in-memory databases go through sqlx.
use accord_core::store::{StoreError, StoreResult as Result};
use rusqlite::config::DbConfig;
use rusqlite::types::{ToSqlOutput, Value as LiteValue};
use rusqlite::{Connection, OpenFlags, Row, ToSql};
use sea_query::Value;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// Prepared statements kept per connection: the list queries differ by their filters.
const STATEMENTS_KEPT: usize = 64;

/// Reader connections to one SQLite file, opened on first use.
pub struct LiteReaders {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    /// Idle connections kept at most: one per runtime thread (one per core). A statement
    /// holds a connection for its whole run and never awaits, so a runtime thread uses one
    /// at a time.
    kept: usize,
    closed: AtomicBool,
}

impl LiteReaders {
    pub fn new(path: &Path) -> Self {
        let kept = std::thread::available_parallelism().map_or(1, |n| n.get());
        LiteReaders {
            path: path.to_path_buf(),
            idle: Mutex::new(Vec::with_capacity(kept)),
            kept,
            closed: AtomicBool::new(false),
        }
    }

    /// The idle connections. A panic while the lock was held leaves a valid list.
    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Connection>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Closes the idle connections; later reads fail, as sqlx's closed pools do.
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.idle().clear();
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )?;
        conn.busy_timeout(Duration::from_secs(10))?;
        // Without the query planner stability guarantee, binding a `LIKE` pattern marks the
        // statement for a new plan, and a substring search parsed and planned its statement
        // again at every run. Plans do not depend on bound values here: every `LIKE`
        // pattern of these reads starts with `%`, which no index serves, no read relies on
        // a bound value to choose a partial index, and the planner has no sampled
        // statistics (`analysis_limit` in `db.rs`) to weigh bound values with.
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
        // The page cache of sqlx's readers (see `db.rs`); they never write.
        conn.execute_batch("PRAGMA cache_size=-8192; PRAGMA query_only=1;")?;
        conn.set_prepared_statement_cache_capacity(STATEMENTS_KEPT);
        Ok(conn)
    }

    /// Runs `sql` (with `?` placeholders, one per value of `values`, as sea-query renders
    /// them for SQLite) and maps each row, all on the calling thread: it blocks until the
    /// statement has run.
    pub fn rows<T>(
        &self,
        sql: &str,
        values: &[Value],
        map: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(StoreError::backend("the SQLite readers are closed"));
        }
        let idle = self.idle().pop();
        let conn = match idle {
            Some(c) => c,
            None => self.open().map_err(StoreError::backend)?,
        };
        let read = step(&conn, sql, values, map);
        let mut idle = self.idle();
        if idle.len() < self.kept && !self.closed.load(Ordering::SeqCst) {
            idle.push(conn);
        }
        read.map_err(StoreError::backend)
    }

    /// The integer `sql` answers (its first row's first column), as [`LiteReaders::rows`].
    pub fn integer(&self, sql: &str, values: &[Value]) -> Result<i64> {
        self.rows(sql, values, |row| row.get::<_, i64>(0))?
            .pop()
            .ok_or_else(|| StoreError::backend("a query for one integer gave no row"))
    }
}

/// Runs `sql` with `values` on `conn` (its prepared statement kept) and maps each row.
fn step<T>(
    conn: &Connection,
    sql: &str,
    values: &[Value],
    mut map: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let params: Vec<Bound<'_>> = values.iter().map(Bound).collect();
    let mut rows = stmt.query(rusqlite::params_from_iter(params.iter()))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(map(row)?);
    }
    Ok(out)
}

/// A row the writer's own connection reads (see [`LiteWriter`]), decoded as its sqlx
/// `FromRow` decodes it.
pub(crate) trait FromLite: Sized {
    fn from_lite(row: &Row<'_>) -> rusqlite::Result<Self>;
}

/// The writer's own connection to an SQLite file: the compliance-request creates of a
/// batch (`creates.rs`) and the consent events of a batch with the identities they create
/// (`append_consent_events` and `insert_consent_events` in `consent.rs`) are written
/// through it on the calling thread, as the readers above read. Through sqlx's driver,
/// each of a create's statements (finding and adding its identity, writing its rows) was
/// two thread switches and a wake-up: at 16 connections, switching threads was a quarter
/// of the server's CPU. The batch holds sqlx's
/// one writer connection meanwhile, so that no other write of this process comes between;
/// another process waits for the write lock as sqlx's writer does (`busy_timeout`).
pub struct LiteWriter {
    path: PathBuf,
    /// `None` once closed.
    conn: Mutex<Option<Connection>>,
}

/// Statement texts longer than this (the multi-row inserts of array creates) are prepared
/// for one run and not kept, so as not to crowd the common ones out of the cache.
const KEPT_TEXT_BYTES: usize = 4096;

impl LiteWriter {
    /// Opens the connection with the per-connection pragmas of sqlx's writer (see `db.rs`;
    /// its page cache is a reader's).
    pub fn open(path: &Path) -> rusqlite::Result<Self> {
        Ok(LiteWriter {
            path: path.to_path_buf(),
            conn: Mutex::new(Some(Self::connect(path)?)),
        })
    }

    fn connect(path: &Path) -> rusqlite::Result<Connection> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.execute_batch(
            "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; PRAGMA cache_size=-8192; \
             PRAGMA temp_store=MEMORY; PRAGMA wal_autocheckpoint=16000;",
        )?;
        conn.set_prepared_statement_cache_capacity(STATEMENTS_KEPT);
        Ok(conn)
    }

    /// Runs `f` on the connection. A panic while the lock was held leaves it usable: a
    /// transaction it left open is ended by [`LiteWriter::end`] or the next
    /// [`LiteWriter::begin`].
    fn with<R>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<R>) -> Result<R> {
        self.with_mapped(f, StoreError::backend)
    }

    /// Runs `f` on the connection, its error mapped by `err` (see [`LiteWriter::with`]).
    pub(crate) fn with_mapped<R>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<R>,
        err: impl FnOnce(rusqlite::Error) -> StoreError,
    ) -> Result<R> {
        let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        let conn = conn
            .as_ref()
            .ok_or_else(|| StoreError::backend("the SQLite writer is closed"))?;
        f(conn).map_err(err)
    }

    /// Closes the connection; later statements fail.
    pub fn close(&self) {
        self.conn
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }

    /// Starts a write transaction (`BEGIN IMMEDIATE`), ending first one that an earlier
    /// batch left open.
    pub fn begin(&self) -> Result<()> {
        self.end()?;
        self.with(|c| c.execute_batch("BEGIN IMMEDIATE"))
    }

    /// Rolls back the open transaction, if any. Should `ROLLBACK` fail and leave it open
    /// (it holds the write lock, and every other writer would wait for it), the connection
    /// is closed, which ends it, and opened again. An error only when that fails.
    pub fn end(&self) -> Result<()> {
        let mut guard = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(conn) = guard.as_ref() else {
            return Ok(());
        };
        if conn.is_autocommit() {
            return Ok(());
        }
        // SQLite may have ended it itself (after a full disk, say): "no transaction".
        let _ = conn.execute_batch("ROLLBACK");
        if conn.is_autocommit() {
            return Ok(());
        }
        guard.take();
        *guard = Some(Self::connect(&self.path).map_err(StoreError::backend)?);
        Ok(())
    }

    /// Runs statements of fixed text without values (`COMMIT`, `SAVEPOINT …`).
    pub fn batch(&self, sql: &str) -> Result<()> {
        self.with(|c| c.execute_batch(sql))
    }

    /// The rows `sql` (one statement) answers, as [`LiteReaders::rows`].
    pub fn rows<T>(
        &self,
        sql: &str,
        values: &[Value],
        map: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>> {
        self.with(|c| step(c, sql, values, map))
    }

    /// Runs one statement that answers no rows; the rows it changed (not counting those
    /// its triggers changed, as sqlx counts them).
    pub fn execute(&self, sql: &str, values: &[Value]) -> Result<u64> {
        self.with(|c| {
            let params: Vec<Bound<'_>> = values.iter().map(Bound).collect();
            let params = rusqlite::params_from_iter(params.iter());
            let n = if sql.len() <= KEPT_TEXT_BYTES {
                c.prepare_cached(sql)?.execute(params)?
            } else {
                c.prepare(sql)?.execute(params)?
            };
            Ok(n as u64)
        })
    }
}

/// A transaction on the writer's own connection, rolled back when dropped unfinished (a
/// batch that panicked or returned early with an error).
pub(crate) struct LiteTx<'c> {
    w: &'c LiteWriter,
    open: bool,
}

impl<'c> LiteTx<'c> {
    /// Starts a write transaction on `w` (see [`LiteWriter::begin`]).
    pub fn begin(w: &'c LiteWriter) -> Result<Self> {
        w.begin()?;
        Ok(LiteTx { w, open: true })
    }

    /// The connection the transaction's statements run on.
    pub fn writer(&self) -> &'c LiteWriter {
        self.w
    }

    pub fn commit(mut self) -> Result<()> {
        self.w.batch("COMMIT")?;
        self.open = false;
        Ok(())
    }

    pub fn rollback(mut self) -> Result<()> {
        self.open = false;
        self.w.end()
    }
}

impl Drop for LiteTx<'_> {
    fn drop(&mut self) {
        if self.open {
            // A failure is met again, and answered, by the next transaction's `begin`.
            let _ = self.w.end();
        }
    }
}

/// A sea-query value bound to a rusqlite statement, as sqlx binds it on SQLite.
struct Bound<'v>(&'v Value);

impl ToSql for Bound<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        let int = |v: Option<i64>| v.map_or(LiteValue::Null, LiteValue::Integer);
        Ok(ToSqlOutput::Owned(match self.0 {
            Value::Bool(v) => int(v.map(i64::from)),
            Value::TinyInt(v) => int(v.map(i64::from)),
            Value::SmallInt(v) => int(v.map(i64::from)),
            Value::Int(v) => int(v.map(i64::from)),
            Value::BigInt(v) => int(*v),
            Value::TinyUnsigned(v) => int(v.map(i64::from)),
            Value::SmallUnsigned(v) => int(v.map(i64::from)),
            Value::Unsigned(v) => int(v.map(i64::from)),
            Value::BigUnsigned(v) => match v {
                Some(n) => LiteValue::Integer(
                    i64::try_from(*n)
                        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?,
                ),
                None => LiteValue::Null,
            },
            Value::Float(v) => v.map_or(LiteValue::Null, |f| LiteValue::Real(f64::from(f))),
            Value::Double(v) => v.map_or(LiteValue::Null, LiteValue::Real),
            Value::String(Some(s)) => return Ok(ToSqlOutput::from(s.as_str())),
            Value::Char(Some(c)) => LiteValue::Text(c.to_string()),
            Value::Bytes(Some(b)) => return Ok(ToSqlOutput::from(b.as_slice())),
            Value::String(None) | Value::Char(None) | Value::Bytes(None) => LiteValue::Null,
            #[allow(unreachable_patterns)]
            other => {
                return Err(rusqlite::Error::ToSqlConversionFailure(
                    format!("no SQLite binding for {other:?}").into(),
                ))
            }
        }))
    }
}

/// How often the checkpointer copies the write-ahead log into the database file while it
/// grows: small copies, each a short stall of the core it shares with the server.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(40);
/// How often at most while the log does not grow (an idle server).
const CHECKPOINT_IDLE: Duration = Duration::from_secs(1);

/// Copies SQLite's write-ahead log into the database file from a thread of its own
/// (`PRAGMA wal_checkpoint(PASSIVE)`, every [`CHECKPOINT_EVERY`] while the log grows,
/// backing off to [`CHECKPOINT_IDLE`] while it doesn't), so that the writer's commits
/// don't. SQLite's own checkpoint runs in the commit that makes the log reach 1,000 pages:
/// consent ingestion did that several times a second (11 % of the server's CPU, a page
/// written again at every checkpoint that finds it changed), and the writes queued behind
/// such a commit waited for it. A passive checkpoint waits for no reader or writer and
/// copies what it can; the writer keeps a far higher threshold of its own in case this
/// thread falls behind (see `db.rs`). The thread ends when the database is closed or
/// dropped.
pub struct Checkpointer {
    stop: Mutex<Option<std::sync::mpsc::Sender<()>>>,
}

impl Checkpointer {
    pub fn start(path: &Path) -> std::io::Result<Self> {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let path = path.to_path_buf();
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                let mut conn: Option<Connection> = None;
                let mut wait = CHECKPOINT_EVERY;
                // The log's size in pages at the last checkpoint.
                let mut last = -1;
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(wait)
                {
                    wait = (wait * 2).min(CHECKPOINT_IDLE);
                    if conn.is_none() {
                        conn = Connection::open_with_flags(
                            &path,
                            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                        )
                        .map_err(
                            |e| tracing::warn!(error = %e, "checkpointer cannot open the database"),
                        )
                        .ok();
                    }
                    let Some(c) = &conn else { continue };
                    // (busy, pages in the log, pages copied)
                    match c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(1))
                    {
                        Ok(log) => {
                            if log != last {
                                wait = CHECKPOINT_EVERY;
                            }
                            last = log;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "checkpoint failed");
                            conn = None;
                        }
                    }
                }
            })?;
        Ok(Checkpointer {
            stop: Mutex::new(Some(stop)),
        })
    }

    /// Ends the thread (at its next wake-up at the latest).
    pub fn stop(&self) {
        self.stop
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A batch that ends without committing or rolling back (it panicked) leaves its
    /// transaction open: the next batch's `begin` rolls it back first, and nothing of it is
    /// stored. A closed writer refuses every statement.
    #[test]
    fn a_transaction_left_open_is_rolled_back_by_the_next_begin() {
        let dir = std::env::temp_dir().join(format!("accord-lite-writer-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("w.db");
        let _ = std::fs::remove_file(&path);
        Connection::open(&path)
            .unwrap()
            .execute_batch("PRAGMA journal_mode=WAL; CREATE TABLE t (x INTEGER);")
            .unwrap();
        let w = LiteWriter::open(&path).unwrap();
        let count = |w: &LiteWriter| {
            w.rows("SELECT COUNT(*) FROM t", &[], |r| r.get::<_, i64>(0))
                .unwrap()[0]
        };
        w.begin().unwrap();
        assert_eq!(
            w.execute("INSERT INTO t VALUES (?)", &[Value::BigInt(Some(1))])
                .unwrap(),
            1
        );
        // Left open: the next batch begins.
        w.begin().unwrap();
        assert_eq!(count(&w), 0, "the unfinished transaction was rolled back");
        w.execute("INSERT INTO t VALUES (?)", &[Value::BigInt(Some(2))])
            .unwrap();
        w.batch("COMMIT").unwrap();
        w.end().unwrap();
        assert_eq!(count(&w), 1);
        // Another connection sees the commit and can write: no lock is left held.
        let other = Connection::open(&path).unwrap();
        other.execute("INSERT INTO t VALUES (3)", []).unwrap();
        w.close();
        assert!(
            w.end().is_ok(),
            "ending nothing on a closed writer is not an error"
        );
        assert!(w.begin().is_err());
        assert!(w.execute("INSERT INTO t VALUES (4)", &[]).is_err());
        assert!(w
            .rows("SELECT x FROM t", &[], |r| r.get::<_, i64>(0))
            .is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
