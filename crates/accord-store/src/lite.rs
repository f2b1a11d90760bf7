//! SQLite reads run on the calling thread. sqlx's SQLite driver runs every statement on a
//! worker thread of its own and sends each row back through a channel: a list page of 50
//! rows cost two thread switches per statement and a wake-up and a column map per row,
//! about half of the request's CPU (`perf`). The hot read paths (list pages, their totals,
//! the trigram counts of a substring search) instead take a connection of this pool and
//! step the statement where they are, which blocks the calling runtime thread for the
//! statement's time only: the same time the request waited for the driver's thread.
//!
//! The connections are readers like sqlx's (`query_only`, the same pragmas) on the same
//! file; each keeps its prepared statements. PostgreSQL and in-memory databases go
//! through sqlx as before.
use accord_core::store::{StoreError, StoreResult as Result};
use rusqlite::types::{ToSqlOutput, Value as LiteValue};
use rusqlite::{Connection, OpenFlags, Row, ToSql};
use sea_query::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Connections kept open at most. A statement holds one for its whole run and never
/// awaits, so at most one per runtime thread is in use at once.
const KEPT: usize = 4;

/// Prepared statements kept per connection: the list queries differ by their filters.
const STATEMENTS_KEPT: usize = 64;

/// Reader connections to one SQLite file, opened on first use.
pub struct LiteReaders {
    path: String,
    idle: Mutex<Vec<Connection>>,
    closed: AtomicBool,
}

impl LiteReaders {
    pub fn new(path: &str) -> Self {
        LiteReaders {
            path: path.to_string(),
            idle: Mutex::new(Vec::with_capacity(KEPT)),
            closed: AtomicBool::new(false),
        }
    }

    /// Closes the idle connections; later reads fail, as sqlx's closed pools do.
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )?;
        conn.busy_timeout(Duration::from_secs(10))?;
        // The page cache of sqlx's readers (see `db.rs`).
        conn.execute_batch("PRAGMA cache_size=-8192; PRAGMA query_only=1;")?;
        conn.set_prepared_statement_cache_capacity(STATEMENTS_KEPT);
        Ok(conn)
    }

    /// Runs `sql` with `values` and maps each row; the rows are read in one statement.
    pub fn rows<T>(
        &self,
        sql: &str,
        values: &[Value],
        mut map: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(StoreError::backend("the SQLite readers are closed"));
        }
        let conn = match self.idle.lock().map_err(StoreError::backend)?.pop() {
            Some(c) => c,
            None => self.open().map_err(StoreError::backend)?,
        };
        let read = (|| {
            let mut stmt = conn.prepare_cached(sql)?;
            let params: Vec<Bound<'_>> = values.iter().map(Bound).collect();
            let mut rows = stmt.query(rusqlite::params_from_iter(params.iter()))?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                out.push(map(row)?);
            }
            Ok::<_, rusqlite::Error>(out)
        })();
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < KEPT && !self.closed.load(Ordering::SeqCst) {
                idle.push(conn);
            }
        }
        read.map_err(StoreError::backend)
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
