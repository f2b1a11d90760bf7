//! Test harness: starts the real router on a real listener, over a fresh SQLite file or a
//! fresh PostgreSQL database, with a bootstrapped organization, project and owner key.
#![allow(dead_code)]

use accord_api::{ApiConfig, AppState};
use accord_core::auth::Role;
use accord_core::store::{bootstrap, NewApiKey};
use accord_store::{Backend, SqlStore};
use reqwest::{Method, RequestBuilder, Response};
use serde_json::Value;
use std::sync::Arc;
use uuid::Uuid;

pub use accord_core::store::prelude::*;
pub use serde_json::json;

/// Admin URL of the PostgreSQL server the tests create databases on.
pub fn postgres_admin_url() -> String {
    std::env::var("ACCORD_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Whether PostgreSQL tests run. With `CI=true` an unreachable server is a failure.
pub async fn postgres_available() -> bool {
    sqlx::any::install_default_drivers();
    let ok = match sqlx::AnyConnection::connect_with_url(&postgres_admin_url()).await {
        Ok(c) => {
            let _ = sqlx::Connection::close(c).await;
            true
        }
        Err(e) => {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!(
                    "PostgreSQL at {} is unreachable with CI=true: {e}",
                    postgres_admin_url()
                );
            }
            eprintln!("skipping PostgreSQL variant: {e}");
            false
        }
    };
    ok
}

trait ConnectUrl {
    async fn connect_with_url(url: &str) -> Result<sqlx::AnyConnection, sqlx::Error>;
}
impl ConnectUrl for sqlx::AnyConnection {
    async fn connect_with_url(url: &str) -> Result<sqlx::AnyConnection, sqlx::Error> {
        use sqlx::Connection;
        sqlx::AnyConnection::connect(url).await
    }
}

/// Creates an empty database and returns its URL.
pub async fn fresh_database(backend: Backend, dir: &std::path::Path) -> String {
    match backend {
        Backend::Sqlite => format!("sqlite://{}/accord.db", dir.display()),
        Backend::Postgres => {
            use sqlx::Executor;
            let admin = postgres_admin_url();
            let name = format!("accord_test_{}", Uuid::new_v4().simple());
            let mut conn = sqlx::AnyConnection::connect_with_url(&admin)
                .await
                .expect("postgres");
            conn.execute(format!("CREATE DATABASE {name}").as_str())
                .await
                .expect("create database");
            let _ = sqlx::Connection::close(conn).await;
            let (base, _) = admin.rsplit_once('/').expect("url with database");
            format!("{base}/{name}")
        }
    }
}

/// Posts a Privacy API consent-event create of `items`, which must be answered 201; its
/// answer.
pub async fn record_consent(s: &Server, items: Vec<Value>) -> Value {
    let (status, body) = s
        .post(
            &s.project_path("/consent-events"),
            json!({ "items": items }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body
}

pub struct Server {
    pub base: String,
    pub key: String,
    pub org: Uuid,
    pub project: Uuid,
    pub store: Arc<SqlStore>,
    pub client: reqwest::Client,
    pub dir: tempfile::TempDir,
    pub backend: Backend,
    /// The database URL, for a second server on the same database.
    pub url: String,
}

/// The configuration of [`start`]: rate limits off.
fn unlimited() -> ApiConfig {
    ApiConfig {
        rate_limit_privacy: 0,
        rate_limit_site: 0,
        ..Default::default()
    }
}

pub async fn start(backend: Backend) -> Server {
    start_with(backend, unlimited()).await
}

pub async fn start_with(backend: Backend, config: ApiConfig) -> Server {
    start_with_ingest(backend, config, None).await
}

/// [`start_with`] with the given consent-event writer instead of a started default one.
pub async fn start_with_ingest(
    backend: Backend,
    config: ApiConfig,
    ingest: Option<accord_api::ingest::Ingest>,
) -> Server {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("warn")
        .with_test_writer()
        .try_init();
    let dir = tempfile::tempdir().expect("tempdir");
    let url = fresh_database(backend, dir.path()).await;
    launch(backend, dir, url, config, ingest).await
}

/// A server over the database at `url` (migrated to the last version, with a new
/// organization), keeping its files in `dir`.
pub async fn start_on(backend: Backend, dir: tempfile::TempDir, url: String) -> Server {
    launch(backend, dir, url, unlimited(), None).await
}

async fn launch(
    backend: Backend,
    dir: tempfile::TempDir,
    url: String,
    config: ApiConfig,
    ingest: Option<accord_api::ingest::Ingest>,
) -> Server {
    let store = Arc::new(SqlStore::connect(&url).await.expect("connect"));
    store.migrate().await.expect("migrate");
    let b = bootstrap(
        store.as_ref(),
        "Acme",
        "Website",
        vec!["localhost".into()],
        "bootstrap",
    )
    .await
    .expect("bootstrap");
    let files_dir = dir.path().join("files");
    std::fs::create_dir_all(&files_dir).unwrap();
    let files =
        Arc::new(object_store::local::LocalFileSystem::new_with_prefix(&files_dir).unwrap());
    let mut config = config;
    if config.mail.outbox_dir == accord_api::mail::MailConfig::default().outbox_dir {
        config.mail.outbox_dir = dir.path().join("outbox");
    }
    let state = match ingest {
        Some(ingest) => AppState::with_ingest(store.clone(), files, config, ingest),
        None => AppState::new(store.clone(), files, config),
    };
    state.start_background();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let body_timeout = state.config.body_timeout;
        let routes = accord_api::routes(state).route_layer(axum::middleware::from_fn(
            crate::conformance::validate_responses,
        ));
        let app = accord_api::every_request(routes, body_timeout);
        let limits = accord_api::server::Limits::default();
        accord_api::server::serve(listener, app, limits, std::future::pending()).await;
    });
    Server {
        base: format!("http://{addr}"),
        key: b.secret,
        org: b.organization.id,
        project: b.project.id,
        store,
        client: reqwest::Client::new(),
        dir,
        backend,
        url,
    }
}

/// A PostgreSQL test database is dropped when its server goes, also after a failure.
impl Drop for Server {
    fn drop(&mut self) {
        if self.backend != Backend::Postgres {
            return;
        }
        let Some((_, name)) = self.url.rsplit_once('/') else {
            return;
        };
        let name = name.to_string();
        let admin = postgres_admin_url();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                use sqlx::Executor;
                let mut conn = sqlx::AnyConnection::connect_with_url(&admin).await.ok()?;
                conn.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                    .await
                    .ok()?;
                let _ = sqlx::Connection::close(conn).await;
                Some(())
            })
        })
        .join();
    }
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// `/privacy-v1/organizations/{org}/projects/{project}` + `rest`.
    pub fn project_path(&self, rest: &str) -> String {
        format!(
            "/privacy-v1/organizations/{}/projects/{}{}",
            self.org, self.project, rest
        )
    }

    pub fn req(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, self.url(path))
            .header("x-api-key", &self.key)
    }

    pub fn req_as(&self, key: &str, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, self.url(path))
            .header("x-api-key", key)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        send(self.req(Method::GET, path)).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        send(self.req(Method::POST, path).json(&body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        send(self.req(Method::PATCH, path).json(&body)).await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        send(self.req(Method::DELETE, path)).await
    }

    /// A key of this organization with `role` and optional per-project permissions.
    pub async fn key_with(
        &self,
        role: Role,
        permissions: Vec<(Uuid, Option<Uuid>, Role)>,
    ) -> String {
        let s = accord_core::auth::generate_api_key();
        self.store
            .create_api_key(NewApiKey {
                organization_id: self.org,
                name: format!("{role:?}"),
                role,
                digest: s.digest,
                prefix: s.prefix,
                permissions,
            })
            .await
            .unwrap();
        s.secret
    }

    /// Creates one compliance request and returns it.
    pub async fn create_request(&self, body: Value) -> Value {
        let (status, cr) = self
            .post(&self.project_path("/compliance-requests"), body)
            .await;
        assert_eq!(status, 201, "{cr}");
        cr
    }

    /// A request already `submitted` (preverified).
    pub async fn submitted_request(&self) -> Value {
        self.create_request(json!({"request": "delete", "userEmail": format!("{}@example.com", Uuid::new_v4().simple()), "preverified": true})).await
    }
}

/// Sends `method path` with `key` as the API key and an optional JSON body.
pub async fn call(
    s: &Server,
    key: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let rb = s.req_as(key, method, path);
    send(match body {
        Some(b) => rb.json(&b),
        None => rb,
    })
    .await
}

/// Sends and returns status and JSON body (or `Null` when the body is not JSON).
pub async fn send(rb: RequestBuilder) -> (u16, Value) {
    let res: Response = rb.send().await.expect("request");
    let status = res.status().as_u16();
    let text = res.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Asserts an error response: status and exact message, and nothing but the three fields.
pub fn assert_error(got: &(u16, Value), status: u16, message: &str) {
    assert_eq!(got.0, status, "body: {}", got.1);
    let obj = got
        .1
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {}", got.1));
    assert_eq!(obj.len(), 3, "{}", got.1);
    assert_eq!(obj["statusCode"], status);
    assert_eq!(obj["error"], accord_core::error::reason_phrase(status));
    assert_eq!(obj["message"], message, "body: {}", got.1);
}

/// Checks `value` against a published schema with a JSON Schema validator (formats,
/// lengths, patterns and item counts included); `Err` names every violation.
pub fn check_schema(schema: &Value, value: &Value, loc: &str) -> Result<(), String> {
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(schema)
        .map_err(|e| format!("{loc}: the schema is invalid: {e}"))?;
    crate::conformance::violations(&validator, value, loc)
}

/// Runs an async test body on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(accord_store::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if $crate::common::postgres_available().await {
                    super::$name(accord_store::Backend::Postgres).await
                }
            }
        }
    )*};
}
