//! Applying the migrations of `migrations/{sqlite,postgres}` in order, each in its own
//! transaction with its version row; migration 6 also seeds the predefined data-map values
//! of the organizations that exist by then, and migration 10 gives every project that exists
//! by then its Default region.
use crate::db::{db_err, Backend, Db};
use accord_core::store::StoreResult as Result;
use sqlx::Executor;

const SQLITE_MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/sqlite/0001_foundation.sql")),
    (2, include_str!("../migrations/sqlite/0002_search.sql")),
    (4, include_str!("../migrations/sqlite/0004_consent.sql")),
    (5, include_str!("../migrations/sqlite/0005_sessions.sql")),
    (6, include_str!("../migrations/sqlite/0006_datamap.sql")),
    (7, include_str!("../migrations/sqlite/0007_lifecycle.sql")),
    (
        8,
        include_str!("../migrations/sqlite/0008_consent_ingest.sql"),
    ),
    (
        9,
        include_str!("../migrations/sqlite/0009_request_counts.sql"),
    ),
    (10, include_str!("../migrations/sqlite/0010_regions.sql")),
    (11, include_str!("../migrations/sqlite/0011_users.sql")),
    (
        12,
        include_str!("../migrations/sqlite/0012_policies_metrics.sql"),
    ),
    (13, include_str!("../migrations/sqlite/0013_trackers.sql")),
    (
        14,
        include_str!("../migrations/sqlite/0014_more_counts.sql"),
    ),
    (15, include_str!("../migrations/sqlite/0015_gcm_scans.sql")),
    (16, include_str!("../migrations/sqlite/0016_console.sql")),
    (
        17,
        include_str!("../migrations/sqlite/0017_team_notifications.sql"),
    ),
    (
        18,
        include_str!("../migrations/sqlite/0018_keyed_counts.sql"),
    ),
    (
        19,
        include_str!("../migrations/sqlite/0019_site_event_indexes.sql"),
    ),
    (
        20,
        include_str!("../migrations/sqlite/0020_request_date_filters.sql"),
    ),
    (
        22,
        include_str!("../migrations/sqlite/0022_search_rewrites_only_changed_text.sql"),
    ),
    (
        23,
        include_str!("../migrations/sqlite/0023_search_entries_once_per_transaction.sql"),
    ),
];
const POSTGRES_MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        include_str!("../migrations/postgres/0001_foundation.sql"),
    ),
    (2, include_str!("../migrations/postgres/0002_search.sql")),
    (4, include_str!("../migrations/postgres/0004_consent.sql")),
    (5, include_str!("../migrations/postgres/0005_sessions.sql")),
    (6, include_str!("../migrations/postgres/0006_datamap.sql")),
    (7, include_str!("../migrations/postgres/0007_lifecycle.sql")),
    (
        8,
        include_str!("../migrations/postgres/0008_consent_ingest.sql"),
    ),
    (
        9,
        include_str!("../migrations/postgres/0009_request_counts.sql"),
    ),
    (10, include_str!("../migrations/postgres/0010_regions.sql")),
    (11, include_str!("../migrations/postgres/0011_users.sql")),
    (
        12,
        include_str!("../migrations/postgres/0012_policies_metrics.sql"),
    ),
    (13, include_str!("../migrations/postgres/0013_trackers.sql")),
    (
        14,
        include_str!("../migrations/postgres/0014_more_counts.sql"),
    ),
    (
        15,
        include_str!("../migrations/postgres/0015_gcm_scans.sql"),
    ),
    (16, include_str!("../migrations/postgres/0016_console.sql")),
    (
        17,
        include_str!("../migrations/postgres/0017_team_notifications.sql"),
    ),
    (
        21,
        include_str!("../migrations/postgres/0021_range_and_overdue_walks.sql"),
    ),
];

impl Db {
    /// Applies pending migrations; returns how many ran. Concurrent servers on one
    /// PostgreSQL database serialise on an advisory lock.
    pub async fn migrate(&self) -> Result<usize> {
        self.migrate_up_to(i64::MAX).await
    }

    /// Applies the pending migrations up to `last` (inclusive): a database at an earlier
    /// schema, for the tests of a later migration.
    pub async fn migrate_up_to(&self, last: i64) -> Result<usize> {
        let mut conn = self.write.acquire().await.map_err(db_err)?;
        let migrations = match self.backend {
            Backend::Sqlite => SQLITE_MIGRATIONS,
            Backend::Postgres => POSTGRES_MIGRATIONS,
        };
        if self.backend == Backend::Postgres {
            conn.execute("SELECT pg_advisory_lock(4242001)")
                .await
                .map_err(db_err)?;
        }
        let result = async {
            conn.execute("CREATE TABLE IF NOT EXISTS accord_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)")
                .await
                .map_err(db_err)?;
            let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM accord_migrations")
                .fetch_all(&mut *conn)
                .await
                .map_err(db_err)?;
            let mut n = 0;
            for (version, sql) in migrations.iter().filter(|(v, _)| *v <= last) {
                if applied.contains(version) {
                    continue;
                }
                let mut tx = sqlx::Connection::begin(&mut *conn).await.map_err(db_err)?;
                sqlx::raw_sql(sql).execute(&mut *tx).await.map_err(db_err)?;
                if *version == 6 {
                    crate::datamap::seed_existing(self, &mut tx).await?;
                }
                if *version == 10 {
                    crate::regions::seed_existing(self, &mut tx).await?;
                }
                let insert = format!(
                    "INSERT INTO accord_migrations (version, applied_at) VALUES ({version}, {})",
                    accord_core::time::now_ms()
                );
                tx.execute(insert.as_str()).await.map_err(db_err)?;
                tx.commit().await.map_err(db_err)?;
                n += 1;
            }
            Ok(n)
        }
        .await;
        if self.backend == Backend::Postgres {
            let _ = conn.execute("SELECT pg_advisory_unlock(4242001)").await;
        }
        result
    }
}
