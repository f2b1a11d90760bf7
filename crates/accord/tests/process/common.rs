//! Shared helpers: fresh databases (SQLite file or PostgreSQL database) and free ports.

/// Admin URL of the PostgreSQL server the tests create databases on.
pub fn postgres_admin_url() -> String {
    std::env::var("ACCORD_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A fresh database URL, or `None` when PostgreSQL is unreachable outside CI (with
/// `CI=true` that is a failure).
pub async fn database(postgres: bool, dir: &std::path::Path) -> Option<String> {
    if !postgres {
        return Some(format!("sqlite://{}/accord.db", dir.display()));
    }
    use sqlx::{Connection, Executor};
    sqlx::any::install_default_drivers();
    let mut conn = match sqlx::AnyConnection::connect(&postgres_admin_url()).await {
        Ok(c) => c,
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("PostgreSQL unreachable with CI=true: {e}")
        }
        Err(e) => {
            eprintln!("skipping PostgreSQL variant: {e}");
            return None;
        }
    };
    let name = format!("accord_process_{}", uuid::Uuid::new_v4().simple());
    conn.execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .unwrap();
    let (base, _) = postgres_admin_url()
        .rsplit_once('/')
        .map(|(a, _)| (a.to_string(), ()))
        .unwrap();
    Some(format!("{base}/{name}"))
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
