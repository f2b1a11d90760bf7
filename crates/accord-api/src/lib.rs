//! Accord's HTTP surface: the `/privacy-v1` and `/site-v1` routers and their layers, the
//! extractors (credentials, scopes, validated bodies and queries), the memory budget of
//! large bodies, the file names of uploaded parts, the one mapping from
//! [`accord_core::Error`] to responses, the OpenAPI documents, the consent-event group
//! commit, the background jobs (outgoing messages, file purge), the metrics, and the
//! listener serving them ([`server`]).
#![forbid(unsafe_code)]
#![recursion_limit = "256"]

pub mod app;
pub mod budget;
pub mod console;
pub mod docs;
pub mod error;
pub mod extract;
pub mod geoip;
pub mod ingest;
pub mod jobs;
pub mod mail;
pub mod metrics;
pub mod multipart;
pub mod openapi;
pub mod rate_limit;
pub mod reads;
pub mod reference;
pub mod respond;
pub mod routes;
pub mod server;
pub mod site;

use accord_core::store::Store;
use ingest::Ingest;
use object_store::ObjectStore;
use std::sync::Arc;

/// Settings of the HTTP layer.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Requests per minute per API key; 0 turns the limit off.
    pub rate_limit_privacy: u32,
    /// Requests per minute per client IP per project on `/site-v1`; 0 turns it off.
    pub rate_limit_site: u32,
    /// Origins allowed to call `/privacy-v1` from a browser (`*` for any).
    pub cors_origins: Vec<String>,
    /// `ACCORD_SMTP_FROM`, shown as the default send-from address.
    pub smtp_from: String,
    /// `ACCORD_TRUSTED_PROXIES`: peers whose `X-Forwarded-For` and geo header are trusted.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// `ACCORD_GEO_HEADER`: a header carrying `CC` or `CC-SUB`, set by a trusted proxy.
    pub geo_header: Option<String>,
    /// `ACCORD_PUBLIC_URL`: external base URL, used in verification links.
    pub public_url: Option<String>,
    /// Base URL of console links (invitations, password resets) when `public_url` is not
    /// set: the address the server listens on.
    pub console_url: Option<String>,
    /// Transports of outgoing messages (§9.6).
    pub mail: mail::MailConfig,
    /// Period of the file purge job (hourly, §9.5).
    pub purge_interval_ms: i64,
    /// `ACCORD_GEOIP_DB`: the geography of client addresses without a trusted geo header.
    pub geoip: Option<Arc<geoip::GeoIp>>,
    /// Longest pause of a client sending a request body before it is answered 408
    /// (`ACCORD_BODY_TIMEOUT`). Handlers themselves are never cancelled: a write that has
    /// started finishes and is answered.
    pub body_timeout: std::time::Duration,
    /// `ACCORD_BODY_MEMORY`: bytes that large request bodies may hold at once; past it they
    /// are answered 503 with `Retry-After` ([`budget`]).
    pub body_memory: u64,
    /// Longest wait of a large body for its share of `body_memory` before the 503.
    pub body_memory_wait: std::time::Duration,
    /// Size of the parts an upload is written to the object store in, and so what one upload
    /// buffers: S3 needs at least 5 MiB; a local folder takes any size.
    pub upload_part_bytes: usize,
    /// `ACCORD_METRICS_FLUSH_INTERVAL`: how often the Site API's consent reads counted in
    /// memory are added to the stored metrics ([`reads`]).
    pub read_flush_interval_ms: u64,
    /// What fetches pages and detects trackers in tracker scans (§8.3).
    pub scan_engine: Arc<dyn accord_core::scans::ScanEngine>,
    /// How often each server looks for due scheduled scans (every minute, §9.5).
    pub scan_check_interval_ms: u64,
    /// How long a running scan holds its lease without renewing it; a scan whose lease
    /// ends is marked `failed`.
    pub scan_lease_ms: i64,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            rate_limit_privacy: 6000,
            rate_limit_site: 600,
            cors_origins: vec![],
            smtp_from: "no-reply@localhost".into(),
            trusted_proxies: vec![],
            geo_header: None,
            public_url: None,
            console_url: None,
            mail: mail::MailConfig::default(),
            purge_interval_ms: 3_600_000,
            geoip: None,
            body_timeout: std::time::Duration::from_secs(30),
            body_memory: 64 * 1024 * 1024,
            body_memory_wait: std::time::Duration::from_secs(10),
            upload_part_bytes: 5 * 1024 * 1024,
            read_flush_interval_ms: 60_000,
            scan_engine: Arc::new(accord_core::scans::NoEngine),
            scan_check_interval_ms: 60_000,
            scan_lease_ms: 120_000,
        }
    }
}

/// Everything a handler needs.
/// Cloned for every request by each layer and handler that takes it, so it is one shared
/// pointer to [`Shared`].
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What every handler and background task of one server shares.
pub struct Shared {
    pub store: Arc<dyn Store>,
    pub files: Arc<dyn ObjectStore>,
    pub config: Arc<ApiConfig>,
    pub limiter: Arc<rate_limit::Limiter>,
    /// Per client IP and project on `/site-v1` (§1.6).
    pub site_limiter: Arc<rate_limit::Limiter>,
    /// The site-session signing secret, loaded once from the database (§5.2).
    pub site_secret: Arc<tokio::sync::OnceCell<Vec<u8>>>,
    /// The group-commit writer of consent events (DESIGN principle 4).
    pub ingest: Ingest,
    /// Wakes the message sender when a change has queued a message.
    pub mail_wake: Arc<MailWake>,
    /// Memory shared by large request bodies ([`budget`]).
    pub body_budget: Arc<budget::BodyBudget>,
    /// Site API consent reads not yet stored (§7.10).
    pub reads: reads::ReadCounter,
    /// Rendered site clients (§5.8), kept until what they embed changes.
    pub site_scripts: routes::site_client::ScriptCache,
}

/// The [`Outbox`](accord_core::usecases::compliance_requests::Outbox) of this process: it
/// wakes the message sender ([`mail`]) instead of letting it wait for its next poll.
#[derive(Debug, Default)]
pub struct MailWake(pub tokio::sync::Notify);

impl accord_core::usecases::compliance_requests::Outbox for MailWake {
    fn wake(&self) {
        self.0.notify_one();
    }
}

impl ApiConfig {
    /// The base URL of console links: `ACCORD_PUBLIC_URL`, else the listen address.
    pub fn console_base(&self) -> Option<&str> {
        self.public_url.as_deref().or(self.console_url.as_deref())
    }
}

impl AppState {
    /// State with a consent-event writer of the default capacity, started on the current
    /// runtime.
    pub fn new(store: Arc<dyn Store>, files: Arc<dyn ObjectStore>, config: ApiConfig) -> AppState {
        let ingest = Ingest::start(store.clone(), ingest::DEFAULT_CAPACITY);
        AppState::with_ingest(store, files, config, ingest)
    }

    /// State with the given consent-event writer.
    pub fn with_ingest(
        store: Arc<dyn Store>,
        files: Arc<dyn ObjectStore>,
        config: ApiConfig,
        ingest: Ingest,
    ) -> AppState {
        let limiter = Arc::new(rate_limit::Limiter::new(config.rate_limit_privacy));
        let site_limiter = Arc::new(rate_limit::Limiter::new(config.rate_limit_site));
        let body_budget = Arc::new(budget::BodyBudget::new(
            config.body_memory,
            config.upload_part_bytes,
            config.body_memory_wait,
        ));
        AppState(Arc::new(Shared {
            store,
            files,
            config: Arc::new(config),
            limiter,
            site_limiter,
            site_secret: Arc::new(tokio::sync::OnceCell::new()),
            ingest,
            mail_wake: Arc::default(),
            body_budget,
            reads: reads::ReadCounter::default(),
            site_scripts: routes::site_client::ScriptCache::default(),
        }))
    }

    /// Starts the background work of a server on the current runtime: the message sender,
    /// the file purge, the flush of consent-read counts and the scheduled tracker scans
    /// (§9.5, §9.6, §7.10, §8.3).
    pub fn start_background(&self) {
        tokio::spawn(mail::run_sender(self.clone()));
        tokio::spawn(jobs::run_purge(self.clone()));
        tokio::spawn(reads::run_flush(self.clone()));
        tokio::spawn(jobs::run_scheduled_scans(self.clone()));
        tokio::spawn(jobs::run_team_digests(self.clone()));
    }

    /// Loads the site-session secret, creating it on the first start of the first server
    /// (§5.2). Called at startup; the first site request loads it otherwise.
    pub async fn load_site_secret(&self) -> accord_core::Result<&[u8]> {
        site::session_secret(self).await
    }
}

pub use app::{every_request, router, routes, App};
pub use ipnet::IpNet;
