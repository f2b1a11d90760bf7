//! The settings of `accord serve`: every one a flag with an `ACCORD_*` environment fallback
//! and a default, parsed and checked before anything starts, so that a bad value stops the
//! server at once with a message naming the setting.
use accord_api::{ApiConfig, IpNet};
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

pub const DEFAULT_DATABASE: &str = "sqlite://accord-data/accord.db";

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address the Privacy API and Site API listen on.
    #[arg(long, env = "ACCORD_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Database: `sqlite://PATH` or `postgres://…`.
    #[arg(long, env = "ACCORD_DATABASE_URL", default_value = DEFAULT_DATABASE, hide_env_values = true)]
    pub database: String,
    /// Folder of uploaded files (`files/`) and the mail outbox (`outbox/`).
    #[arg(
        long = "data-dir",
        env = "ACCORD_DATA_DIR",
        default_value = "./accord-data"
    )]
    pub data_dir: PathBuf,
    /// Address of the Prometheus metrics listener (`GET /metrics`); off when unset.
    #[arg(long = "metrics-listen", env = "ACCORD_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,
    /// Store uploaded files in this S3-compatible bucket (with the usual `AWS_*` variables).
    #[arg(long = "s3-bucket", env = "ACCORD_S3_BUCKET", value_parser = non_empty)]
    pub s3_bucket: Option<String>,
    /// Requests per minute per API key on `/privacy-v1`, per server; 0 turns it off.
    #[arg(
        long = "rate-limit-privacy",
        env = "ACCORD_RATE_LIMIT_PRIVACY",
        default_value_t = 6000
    )]
    pub rate_limit_privacy: u32,
    /// Requests per minute per client IP per project on `/site-v1`, per server; 0 turns it off.
    #[arg(
        long = "rate-limit-site",
        env = "ACCORD_RATE_LIMIT_SITE",
        default_value_t = 600
    )]
    pub rate_limit_site: u32,
    /// Seconds a client may pause while sending a request body before it is answered 408.
    #[arg(long = "body-timeout", env = "ACCORD_BODY_TIMEOUT", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub body_timeout: u64,
    /// Seconds a client may take to send a request's line and headers; a keep-alive
    /// connection without a request is closed after as long.
    #[arg(long = "header-timeout", env = "ACCORD_HEADER_TIMEOUT", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_timeout: u64,
    /// Seconds between two additions of the Site API's consent reads, counted in memory,
    /// to the stored metrics (§7.10); a crash loses at most one interval of reads.
    #[arg(long = "metrics-flush-interval", env = "ACCORD_METRICS_FLUSH_INTERVAL", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=86400))]
    pub metrics_flush_interval: u64,
    /// Open client connections at most; further ones wait to be accepted until one closes.
    #[arg(long = "max-connections", env = "ACCORD_MAX_CONNECTIONS", default_value_t = 1024,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_connections: u64,
    /// MiB that large request bodies (over 64 KiB) may hold in memory at once, across all
    /// requests; past it they are answered 503 with `Retry-After`.
    #[arg(long = "body-memory", env = "ACCORD_BODY_MEMORY", default_value_t = 64,
          value_parser = clap::value_parser!(u64).range(1..=1_048_576))]
    pub body_memory: u64,
    /// Comma-separated CIDRs (or addresses) whose `X-Forwarded-For` and geo header are believed.
    #[arg(long = "trusted-proxies", env = "ACCORD_TRUSTED_PROXIES", default_value = "", value_parser = proxies)]
    pub trusted_proxies: List<IpNet>,
    /// Header (set by a trusted proxy) carrying the visitor's `CC` or `CC-SUB`.
    #[arg(long = "geo-header", env = "ACCORD_GEO_HEADER", value_parser = header_name)]
    pub geo_header: Option<String>,
    /// MaxMind-format `.mmdb` giving the geography when no trusted geo header is present.
    #[arg(long = "geoip-db", env = "ACCORD_GEOIP_DB")]
    pub geoip_db: Option<PathBuf>,
    /// Origins allowed to call `/privacy-v1` from browsers: a comma list, or `*`.
    #[arg(long = "cors-origins", env = "ACCORD_CORS_ORIGINS", default_value = "", value_parser = origins)]
    pub cors_origins: List<String>,
    /// `smtp://` or `smtps://user:pass@host:port`; without it, emails go to the outbox.
    #[arg(long = "smtp-url", env = "ACCORD_SMTP_URL", value_parser = smtp_url, hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// Default sender of emails.
    #[arg(long = "smtp-from", env = "ACCORD_SMTP_FROM", default_value = "no-reply@localhost", value_parser = mailbox)]
    pub smtp_from: String,
    /// Receives `POST {"to","body"}` for verification codes by SMS; without it, SMS go to
    /// the outbox.
    #[arg(long = "sms-webhook-url", env = "ACCORD_SMS_WEBHOOK_URL", value_parser = http_url, hide_env_values = true)]
    pub sms_webhook_url: Option<String>,
    /// Let tracker and GCM scans fetch loopback, private, link-local, unique-local and other
    /// non-public addresses (`true` or `false`); off, such targets are refused.
    #[arg(long = "scan-allow-private", env = "ACCORD_SCAN_ALLOW_PRIVATE", default_value_t = false,
          action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new())]
    pub scan_allow_private: bool,
    /// Seconds a scan may take to fetch one page, redirects included.
    #[arg(long = "scan-timeout", env = "ACCORD_SCAN_TIMEOUT", default_value_t = 15,
          value_parser = clap::value_parser!(u64).range(1..=300))]
    pub scan_timeout: u64,
    /// Scan engine: `static` fetches pages without running them; `browser` loads them in
    /// headless Chromium (`--scan-browser`), records what their scripts set and request, and
    /// replays each page as a visitor who declined consent.
    #[arg(long = "scan-engine", env = "ACCORD_SCAN_ENGINE", default_value = "static",
          value_parser = ["static", "browser"])]
    pub scan_engine: String,
    /// Chromium executable of the browser scan engine (the Debian `chromium` package).
    #[arg(
        long = "scan-browser",
        env = "ACCORD_SCAN_BROWSER",
        default_value = "/usr/bin/chromium"
    )]
    pub scan_browser: PathBuf,
    /// External base URL; verification emails carry a one-time link only when it is set.
    #[arg(long = "public-url", env = "ACCORD_PUBLIC_URL", value_parser = http_url)]
    pub public_url: Option<String>,
}

/// The log filter, shared by every command.
#[derive(Args, Debug)]
pub struct LogArgs {
    /// Log filter (e.g. `info`, `warn,accord_api=debug`); logs are JSON lines on stderr.
    #[arg(long, env = "ACCORD_LOG", default_value = "info,chromiumoxide=error", global = true, value_parser = log_filter)]
    pub log: String,
}

impl ServeArgs {
    /// The listener's connection settings.
    pub fn limits(&self) -> accord_api::server::Limits {
        accord_api::server::Limits {
            header_timeout: Duration::from_secs(self.header_timeout),
            max_connections: usize::try_from(self.max_connections).unwrap_or(usize::MAX),
        }
    }

    /// The scan engine chosen by `--scan-engine`.
    pub fn scan_engine(&self) -> std::sync::Arc<dyn accord_core::scans::ScanEngine> {
        let limits = accord_scan::fetch::Limits {
            timeout: Duration::from_secs(self.scan_timeout),
            allow_private: self.scan_allow_private,
            ..Default::default()
        };
        if self.scan_engine == "browser" {
            std::sync::Arc::new(accord_scan::browser::BrowserEngine::new(
                limits,
                self.scan_browser.clone(),
            ))
        } else {
            std::sync::Arc::new(accord_scan::StaticEngine::new(limits))
        }
    }

    /// The HTTP layer's settings (the GeoIP database is opened here).
    pub fn api_config(&self) -> anyhow::Result<ApiConfig> {
        let geoip = match &self.geoip_db {
            Some(path) => Some(std::sync::Arc::new(
                accord_api::geoip::GeoIp::open(path)
                    .map_err(|e| anyhow::anyhow!("ACCORD_GEOIP_DB: {e}"))?,
            )),
            None => None,
        };
        if self.scan_engine == "browser" && !self.scan_browser.is_file() {
            anyhow::bail!(
                "ACCORD_SCAN_BROWSER: {} is not a file (install the chromium package, or name its executable)",
                self.scan_browser.display()
            );
        }
        Ok(ApiConfig {
            rate_limit_privacy: self.rate_limit_privacy,
            rate_limit_site: self.rate_limit_site,
            cors_origins: self.cors_origins.0.clone(),
            smtp_from: self.smtp_from.clone(),
            trusted_proxies: self.trusted_proxies.0.clone(),
            geo_header: self.geo_header.clone(),
            geoip,
            public_url: self.public_url.clone(),
            body_timeout: Duration::from_secs(self.body_timeout),
            body_memory: self.body_memory * 1024 * 1024,
            // S3 takes no part under 5 MiB (but the last); a local folder takes any size,
            // and smaller parts keep each upload's buffers small.
            upload_part_bytes: if self.s3_bucket.is_some() {
                5 * 1024 * 1024
            } else {
                1024 * 1024
            },
            read_flush_interval_ms: self.metrics_flush_interval * 1000,
            scan_engine: self.scan_engine(),
            mail: accord_api::mail::MailConfig {
                smtp_url: self.smtp_url.clone(),
                sms_webhook_url: self.sms_webhook_url.clone(),
                outbox_dir: self.data_dir.join("outbox"),
                ..Default::default()
            },
            ..Default::default()
        })
    }
}

/// A comma-separated setting; empty entries (and an empty value) are ignored.
#[derive(Debug, Clone, Default)]
pub struct List<T>(pub Vec<T>);

fn list<T>(v: &str, item: impl Fn(&str) -> Result<T, String>) -> Result<List<T>, String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(item)
        .collect::<Result<_, _>>()
        .map(List)
}

fn origins(v: &str) -> Result<List<String>, String> {
    list(v, origin)
}

fn proxies(v: &str) -> Result<List<IpNet>, String> {
    list(v, proxy)
}

/// The URL with its password (in the authority or a `password` query parameter) replaced
/// by `***`, for messages; a URL that does not parse is not shown at all.
pub fn redact(url: &str) -> String {
    let Ok(mut u) = url::Url::parse(url) else {
        return "(an unparsable URL)".into();
    };
    if u.password().is_some() {
        let _ = u.set_password(Some("***"));
    }
    if u.query_pairs().any(|(k, _)| k.contains("password")) {
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .map(|(k, v)| {
                let v = if k.contains("password") {
                    "***".into()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        u.query_pairs_mut().clear().extend_pairs(pairs);
    }
    u.to_string()
}

pub fn database_url(v: &str) -> Result<String, String> {
    let v = v.trim();
    if v.starts_with("sqlite:") {
        return Ok(v.to_string());
    }
    if v.starts_with("postgres://") || v.starts_with("postgresql://") {
        url::Url::parse(v).map_err(|e| format!("not a valid PostgreSQL URL: {e}"))?;
        return Ok(v.to_string());
    }
    Err("unsupported database URL scheme (expected sqlite:// or postgres://)".into())
}

fn non_empty(v: &str) -> Result<String, String> {
    let v = v.trim();
    if v.is_empty() {
        return Err("must not be empty".into());
    }
    Ok(v.to_string())
}

fn proxy(v: &str) -> Result<IpNet, String> {
    let v = v.trim();
    v.parse::<IpNet>()
        .or_else(|_| v.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| format!("'{v}' is not a CIDR or an IP address"))
}

fn header_name(v: &str) -> Result<String, String> {
    let v = v.trim().to_ascii_lowercase();
    axum::http::HeaderName::from_bytes(v.as_bytes())
        .map_err(|_| format!("'{v}' is not a valid header name"))?;
    Ok(v)
}

fn origin(v: &str) -> Result<String, String> {
    let v = v.trim();
    if v == "*" {
        return Ok(v.to_string());
    }
    let u = url::Url::parse(v).map_err(|_| format!("'{v}' is not an origin"))?;
    let is_origin = matches!(u.scheme(), "http" | "https")
        && u.host().is_some()
        && u.path() == "/"
        && !v.ends_with('/')
        && u.query().is_none();
    if !is_origin {
        return Err(format!(
            "'{v}' is not an origin (scheme://host[:port], or *)"
        ));
    }
    Ok(v.to_string())
}

fn smtp_url(v: &str) -> Result<String, String> {
    let v = v.trim();
    let u = url::Url::parse(v).map_err(|e| format!("not a valid URL: {e}"))?;
    if !matches!(u.scheme(), "smtp" | "smtps") || u.host().is_none() {
        return Err("expected smtp://host[:port] or smtps://user:pass@host[:port]".into());
    }
    Ok(v.to_string())
}

fn mailbox(v: &str) -> Result<String, String> {
    let v = v.trim();
    accord_api::mail::check_mailbox(v)?;
    Ok(v.to_string())
}

fn http_url(v: &str) -> Result<String, String> {
    let v = v.trim().trim_end_matches('/');
    let u = url::Url::parse(v).map_err(|e| format!("not a valid URL: {e}"))?;
    if !matches!(u.scheme(), "http" | "https") || u.host().is_none() {
        return Err("expected an http(s) URL".into());
    }
    Ok(v.to_string())
}

fn log_filter(v: &str) -> Result<String, String> {
    tracing_subscriber::EnvFilter::try_new(v).map_err(|e| e.to_string())?;
    Ok(v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_skip_empty_entries() {
        assert!(origins("").unwrap().0.is_empty());
        assert_eq!(
            origins("https://a.example.com, ,https://b.example.com,")
                .unwrap()
                .0,
            vec!["https://a.example.com", "https://b.example.com"]
        );
        assert_eq!(proxies("10.0.0.0/8,").unwrap().0.len(), 1);
        assert!(proxies("10.0.0.0/8,nowhere").is_err());
    }

    #[test]
    fn values_are_checked() {
        assert!(origin("https://admin.example.com").is_ok());
        assert!(origin("http://localhost:3000").is_ok());
        assert!(origin("*").is_ok());
        assert!(origin("admin.example.com").is_err());
        assert!(origin("https://admin.example.com/path").is_err());
        assert!(proxy("10.0.0.0/8").is_ok());
        assert!(proxy("127.0.0.1").is_ok());
        assert!(proxy("ten").is_err());
        assert!(smtp_url("smtps://u:p@mail.example.com:465").is_ok());
        assert!(smtp_url("http://mail.example.com").is_err());
        assert!(mailbox("no-reply@localhost").is_ok());
        assert!(mailbox("Privacy <privacy@example.com>").is_ok());
        assert!(mailbox("nobody").is_err());
        assert!(http_url("https://privacy.example.com/").is_ok());
        assert!(http_url("ftp://x").is_err());
        assert!(database_url("mysql://x").is_err());
        assert!(log_filter("warn,accord_api=debug").is_ok());
        assert!(log_filter("=[").is_err());
        assert!(header_name("X-Geo").is_ok());
        assert!(header_name("bad header").is_err());
    }

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(
            redact("postgres://app:secret@db:5432/accord"),
            "postgres://app:***@db:5432/accord"
        );
        assert_eq!(redact("sqlite://a.db"), "sqlite://a.db");
        assert_eq!(
            redact("postgres://db/accord?user=app&password=secret"),
            "postgres://db/accord?user=app&password=***"
        );
        assert!(!redact("postgres://app:se cret@[db/x").contains("se cret"));
    }
}
