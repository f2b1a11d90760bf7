//! The `accord` binary: `serve`, `bootstrap`, `migrate` and `api-key create` (§9.3).
#![forbid(unsafe_code)]

mod config;

use accord_api::{router, AppState};
use accord_core::auth::Role;
use accord_core::store::prelude::*;
use accord_core::store::{bootstrap, NewApiKey};
use accord_core::time::now_ms;
use accord_store::SqlStore;
use clap::{Parser, Subcommand};
use config::{database_url, redact, LogArgs, ServeArgs, DEFAULT_DATABASE};
use object_store::ObjectStore;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser)]
#[command(name = "accord", version, about = "Accord privacy platform server")]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    log: LogArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Run the Privacy API and Site API on one listener.
    Serve(Box<ServeArgs>),
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
    /// Print a one-time link that creates an owner account of the organization in the web
    /// console (valid for 24 hours).
    #[command(name = "console-link")]
    ConsoleLink {
        #[arg(long)]
        organization: String,
        /// Base URL of the link (default: ACCORD_PUBLIC_URL, else http://127.0.0.1:8080).
        #[arg(long = "public-url", env = "ACCORD_PUBLIC_URL")]
        public_url: Option<String>,
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

fn init_logs(filter: &str) {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .init();
}

async fn open(database: &str) -> anyhow::Result<SqlStore> {
    let store = connect(database).await?;
    store
        .migrate()
        .await
        .map_err(|e| anyhow::anyhow!("migration failed: {e}"))?;
    Ok(store)
}

/// Checked here rather than by the argument parser, so that a bad database URL is a failed
/// start (exit 1) whether it came from the flag or from the environment.
async fn connect(database: &str) -> anyhow::Result<SqlStore> {
    let database = database_url(database).map_err(|rule| {
        anyhow::anyhow!("invalid setting ACCORD_DATABASE_URL (--database): {rule}")
    })?;
    let database = database.as_str();
    SqlStore::connect(database).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot connect to the database at {} (ACCORD_DATABASE_URL): {e}",
            redact(database)
        )
    })
}

/// Local folder by default; an S3-compatible bucket when `ACCORD_S3_BUCKET` is set (with the
/// usual `AWS_*` variables for endpoint, region and credentials).
fn object_store(
    bucket: Option<&str>,
    data_dir: &std::path::Path,
) -> anyhow::Result<Arc<dyn ObjectStore>> {
    if let Some(bucket) = bucket {
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

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = args.api_config()?;
    let limits = args.limits();
    // The listeners first: a busy address fails before anything else is touched.
    let listener = bind(&args.listen, "ACCORD_LISTEN").await?;
    config.console_url = Some(listen_url(listener.local_addr()?));
    let metrics = match &args.metrics_listen {
        Some(addr) => {
            let listener = bind(addr, "ACCORD_METRICS_LISTEN").await?;
            // Installed before anything runs, so that every request and job is counted.
            let handle = accord_api::metrics::install().map_err(|e| anyhow::anyhow!(e))?;
            Some((listener, handle))
        }
        None => None,
    };
    std::fs::create_dir_all(args.data_dir.join("outbox"))?;
    let files = object_store(args.s3_bucket.as_deref(), &args.data_dir)?;
    let store = open(&args.database).await?;
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
        print_bootstrap(&b);
        let token =
            accord_core::usecases::console::setup_link(&store, b.organization.id, now_ms()).await?;
        print_setup_link(config.console_base().unwrap_or_default(), &token);
    }
    let state = AppState::new(Arc::new(store), files, config);
    state.start_background();
    state
        .load_site_secret()
        .await
        .map_err(|e| anyhow::anyhow!("cannot load the session secret: {e}"))?;
    if let Some((metrics_listener, handle)) = metrics {
        let app = accord_api::metrics::router(state.clone(), handle);
        tracing::info!(listen = %metrics_listener.local_addr()?, "metrics serving");
        tokio::spawn(async move {
            if let Err(e) = axum::serve(metrics_listener, app).await {
                tracing::error!(error = %e, "metrics listener stopped");
            }
        });
    }
    tracing::info!(listen = %listener.local_addr()?, "accord serving");
    let flushing = state.clone();
    accord_api::server::serve(listener, router(state), limits, shutdown()).await;
    // The consent reads counted since the last flush (§7.10).
    if let Err(e) = accord_api::reads::flush(&flushing).await {
        tracing::warn!(error = %e, "could not store the consent-read counts");
    }
    tracing::info!("accord stopped");
    Ok(())
}

/// `http://` and the address a listener is on (the loopback address for an unspecified one).
fn listen_url(addr: std::net::SocketAddr) -> String {
    let ip = match addr.ip() {
        std::net::IpAddr::V4(v) if v.is_unspecified() => {
            std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)
        }
        std::net::IpAddr::V6(v) if v.is_unspecified() => {
            std::net::IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)
        }
        ip => ip,
    };
    format!("http://{}", std::net::SocketAddr::new(ip, addr.port()))
}

fn print_setup_link(base: &str, token: &str) {
    println!(
        "Accord console: create the owner's account at {} (valid for 24 hours, once)",
        accord_core::console::link_url(base, accord_core::console::LinkKind::Setup, token)
    );
}

async fn bind(addr: &str, setting: &str) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr} ({setting}): {e}"))
}

fn print_bootstrap(b: &accord_core::store::Bootstrapped) {
    println!(
        "Accord bootstrap: organizationId={} projectId={}",
        b.organization.id, b.project.id
    );
    println!(
        "Accord bootstrap: apiKey={} (shown once; store it now)",
        b.secret
    );
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
        Command::Serve(args) => serve(*args).await,
        Command::Migrate { database } => {
            let store = connect(&database).await?;
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
                print_bootstrap(&b);
            }
            Ok(())
        }
        Command::ConsoleLink {
            organization,
            public_url,
            database,
        } => {
            let store = open(&database).await?;
            let org = uuid_arg(&organization)?;
            if store.get_organization(org).await?.is_none() {
                anyhow::bail!("organization {organization} not found");
            }
            let token = accord_core::usecases::console::setup_link(&store, org, now_ms()).await?;
            print_setup_link(
                public_url.as_deref().unwrap_or("http://127.0.0.1:8080"),
                &token,
            );
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
                let mut v = accord_api::routes::api_keys::view_one(&key, &store).await?;
                v.api_key = secret.secret;
                println!("{}", serde_json::to_string(&v)?);
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
    // Before any thread exists: the environment is only read by this thread here.
    forget_empty_settings();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => return usage_error(e),
    };
    init_logs(&cli.log.log);
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
            eprintln!("accord: {e}");
            ExitCode::from(1)
        }
    }
}

/// Help and version exit 0, usage errors 2. A bad value of a setting taken from its
/// `ACCORD_*` variable exits 1 with a message naming the setting and the rule, never the
/// value (it may hold a password).
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::{ContextKind, ErrorKind};
    let flag = matches!(
        e.kind(),
        ErrorKind::ValueValidation | ErrorKind::InvalidValue
    )
    .then(|| e.get(ContextKind::InvalidArg))
    .flatten()
    .map(|arg| arg.to_string());
    let setting = flag.as_deref().and_then(|f| {
        let (long, env) = env_of(f)?;
        let given_as_flag = std::env::args()
            .any(|a| a == format!("--{long}") || a.starts_with(&format!("--{long}=")));
        (!given_as_flag).then_some(env)
    });
    if let Some(env) = setting {
        let rule = std::error::Error::source(&e)
            .map(|s| s.to_string())
            .unwrap_or_else(|| "not an accepted value".into());
        eprintln!("accord: invalid setting {env}: {rule}");
        return ExitCode::from(1);
    }
    let _ = e.print();
    if e.use_stderr() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

/// The long name and environment variable of the flag named in a clap message
/// (`--flag <VALUE>`).
fn env_of(invalid_arg: &str) -> Option<(String, String)> {
    use clap::CommandFactory;
    let long = invalid_arg.strip_prefix("--")?.split([' ', '=']).next()?;
    fn find(cmd: &clap::Command, long: &str) -> Option<String> {
        cmd.get_arguments()
            .find(|a| a.get_long() == Some(long))
            .and_then(|a| a.get_env())
            .map(|e| e.to_string_lossy().into_owned())
            .or_else(|| cmd.get_subcommands().find_map(|c| find(c, long)))
    }
    find(&Cli::command(), long).map(|env| (long.to_string(), env))
}

/// An `ACCORD_*` variable set to nothing (or blanks) means "not set".
fn forget_empty_settings() {
    for (name, value) in std::env::vars_os() {
        let is_setting = name.to_str().is_some_and(|n| n.starts_with("ACCORD_"));
        if is_setting && value.to_str().is_some_and(|v| v.trim().is_empty()) {
            std::env::remove_var(name);
        }
    }
}
