//! The `accord` binary: `serve`, `bootstrap`, `migrate` and `api-key create` (§9.3).
#![forbid(unsafe_code)]

use accord_api::{router, ApiConfig, AppState};
use accord_core::auth::Role;
use accord_core::store::{bootstrap, NewApiKey, Store};
use accord_store::SqlStore;
use clap::{Parser, Subcommand};
use object_store::ObjectStore;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

const DEFAULT_DATABASE: &str = "sqlite://accord-data/accord.db";

#[derive(Parser)]
#[command(name = "accord", version, about = "Accord privacy platform server")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the Privacy API and Site API on one listener.
    Serve {
        #[arg(long, env = "ACCORD_LISTEN", default_value = "127.0.0.1:8080")]
        listen: String,
        #[arg(long, env = "ACCORD_DATABASE_URL", default_value = DEFAULT_DATABASE)]
        database: String,
        #[arg(
            long = "data-dir",
            env = "ACCORD_DATA_DIR",
            default_value = "./accord-data"
        )]
        data_dir: PathBuf,
    },
    /// Create an organization, a project and an owner API key.
    Bootstrap {
        #[arg(long = "organization-name")]
        organization_name: String,
        #[arg(long = "project-name")]
        project_name: String,
        #[arg(long = "domain")]
        domain: Vec<String>,
        #[arg(long, env = "ACCORD_DATABASE_URL", default_value = DEFAULT_DATABASE)]
        database: String,
        #[arg(long)]
        json: bool,
    },
    /// Apply pending database migrations.
    Migrate {
        #[arg(long, env = "ACCORD_DATABASE_URL", default_value = DEFAULT_DATABASE)]
        database: String,
    },
    /// Manage API keys.
    #[command(name = "api-key")]
    ApiKey {
        #[command(subcommand)]
        command: ApiKeyCommand,
    },
}

#[derive(Subcommand)]
enum ApiKeyCommand {
    /// Create an API key in an organization; the secret is printed once.
    Create {
        #[arg(long)]
        organization: String,
        #[arg(long, value_parser = ["owner", "admin", "limited", "viewer", "none"])]
        role: String,
        #[arg(long, default_value = "cli")]
        name: String,
        #[arg(long, env = "ACCORD_DATABASE_URL", default_value = DEFAULT_DATABASE)]
        database: String,
        #[arg(long)]
        json: bool,
    },
}

fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ACCORD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

async fn open(database: &str) -> anyhow::Result<SqlStore> {
    if !(database.starts_with("sqlite:")
        || database.starts_with("postgres://")
        || database.starts_with("postgresql://"))
    {
        anyhow::bail!("unsupported database URL scheme");
    }
    let store = SqlStore::connect(database)
        .await
        .map_err(|e| anyhow::anyhow!("cannot open database: {e}"))?;
    store
        .migrate()
        .await
        .map_err(|e| anyhow::anyhow!("migration failed: {e}"))?;
    Ok(store)
}

fn env_flag(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Local folder by default; an S3-compatible bucket when `ACCORD_S3_BUCKET` is set (with the
/// usual `AWS_*` variables for endpoint, region and credentials).
fn object_store(data_dir: &std::path::Path) -> anyhow::Result<Arc<dyn ObjectStore>> {
    if let Ok(bucket) = std::env::var("ACCORD_S3_BUCKET") {
        let s3 = object_store::aws::AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .build()?;
        return Ok(Arc::new(s3));
    }
    let dir = data_dir.join("files");
    std::fs::create_dir_all(&dir)?;
    Ok(Arc::new(
        object_store::local::LocalFileSystem::new_with_prefix(dir)?,
    ))
}

/// `ACCORD_TRUSTED_PROXIES`: comma-separated CIDRs (a bare address is a /32 or /128).
fn trusted_proxies() -> anyhow::Result<Vec<accord_api::IpNet>> {
    let raw = std::env::var("ACCORD_TRUSTED_PROXIES").unwrap_or_default();
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<accord_api::IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(accord_api::IpNet::from))
                .map_err(|_| anyhow::anyhow!("invalid ACCORD_TRUSTED_PROXIES entry: {s}"))
        })
        .collect()
}

/// A non-empty environment variable.
fn env_text(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// `ACCORD_GEOIP_DB`: a MaxMind-format database, loaded at start (a bad path stops the
/// server rather than silently dropping geographies).
fn geoip_db() -> anyhow::Result<Option<std::sync::Arc<accord_api::geoip::GeoIp>>> {
    let Some(path) = std::env::var_os("ACCORD_GEOIP_DB").filter(|p| !p.is_empty()) else {
        return Ok(None);
    };
    let db = accord_api::geoip::GeoIp::open(std::path::Path::new(&path))
        .map_err(|e| anyhow::anyhow!(e))?;
    Ok(Some(std::sync::Arc::new(db)))
}

async fn serve(listen: String, database: String, data_dir: PathBuf) -> anyhow::Result<()> {
    std::fs::create_dir_all(data_dir.join("outbox"))?;
    let store = open(&database).await?;
    // Planner statistics: refreshed at start and then hourly (bounded work each time).
    let db = store.db.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            tick.tick().await;
            if let Err(e) = db.optimize().await {
                tracing::warn!(error = %e, "statistics refresh failed");
            }
        }
    });
    if store.organization_count().await? == 0 {
        let b = bootstrap(
            &store,
            "Default",
            "Default",
            vec!["localhost".into()],
            "bootstrap",
        )
        .await?;
        println!(
            "Accord bootstrap: organizationId={} projectId={}",
            b.organization.id, b.project.id
        );
        println!(
            "Accord bootstrap: apiKey={} (shown once; store it now)",
            b.secret
        );
    }
    let config = ApiConfig {
        rate_limit_privacy: env_flag("ACCORD_RATE_LIMIT_PRIVACY", 6000),
        rate_limit_site: env_flag("ACCORD_RATE_LIMIT_SITE", 600),
        cors_origins: std::env::var("ACCORD_CORS_ORIGINS")
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
        smtp_from: std::env::var("ACCORD_SMTP_FROM")
            .unwrap_or_else(|_| "no-reply@localhost".into()),
        trusted_proxies: trusted_proxies()?,
        geo_header: std::env::var("ACCORD_GEO_HEADER")
            .ok()
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty()),
        geoip: geoip_db()?,
        public_url: env_text("ACCORD_PUBLIC_URL").map(|u| u.trim_end_matches('/').to_string()),
        mail: accord_api::mail::MailConfig {
            smtp_url: env_text("ACCORD_SMTP_URL"),
            sms_webhook_url: env_text("ACCORD_SMS_WEBHOOK_URL"),
            outbox_dir: data_dir.join("outbox"),
            ..Default::default()
        },
        ..Default::default()
    };
    let state = AppState::new(Arc::new(store), object_store(&data_dir)?, config);
    state.start_background();
    state
        .load_site_secret()
        .await
        .map_err(|e| anyhow::anyhow!("cannot load the session secret: {e}"))?;
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    tracing::info!(listen = %listener.local_addr()?, "accord serving");
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown())
    .await?;
    tracing::info!("accord stopped");
    Ok(())
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve {
            listen,
            database,
            data_dir,
        } => serve(listen, database, data_dir).await,
        Command::Migrate { database } => {
            let store = SqlStore::connect(&database)
                .await
                .map_err(|e| anyhow::anyhow!("cannot open database: {e}"))?;
            let n = store.migrate().await?;
            println!("applied {n} migrations");
            Ok(())
        }
        Command::Bootstrap {
            organization_name,
            project_name,
            domain,
            database,
            json,
        } => {
            let store = open(&database).await?;
            let b = bootstrap(
                &store,
                &organization_name,
                &project_name,
                domain,
                "bootstrap",
            )
            .await?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"organizationId": b.organization.id, "projectId": b.project.id, "apiKey": b.secret})
                );
            } else {
                println!(
                    "Accord bootstrap: organizationId={} projectId={}",
                    b.organization.id, b.project.id
                );
                println!(
                    "Accord bootstrap: apiKey={} (shown once; store it now)",
                    b.secret
                );
            }
            Ok(())
        }
        Command::ApiKey {
            command:
                ApiKeyCommand::Create {
                    organization,
                    role,
                    name,
                    database,
                    json,
                },
        } => {
            let store = open(&database).await?;
            let org = uuid_arg(&organization)?;
            if store.get_organization(org).await?.is_none() {
                anyhow::bail!("organization {organization} not found");
            }
            let secret = accord_core::auth::generate_api_key();
            let key = store
                .create_api_key(NewApiKey {
                    organization_id: org,
                    name,
                    role: Role::parse(&role).unwrap_or(Role::Viewer),
                    digest: secret.digest,
                    prefix: secret.prefix,
                    permissions: vec![],
                })
                .await?;
            if json {
                let mut v = accord_api::routes::api_keys::to_wire(&key, &store).await?;
                v["apiKey"] = serde_json::json!(secret.secret);
                println!("{v}");
            } else {
                println!("apiKey={}", secret.secret);
            }
            Ok(())
        }
    }
}

fn uuid_arg(s: &str) -> anyhow::Result<uuid::Uuid> {
    accord_core::ids::parse_uuid(s, "--organization").map_err(|e| anyhow::anyhow!("{e}"))
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    init_logs();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
    }
}
