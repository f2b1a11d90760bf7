//! Fetching one page for a scan (§8.3): redirects followed by hand (at most
//! [`Limits::max_redirects`]), every hop's address checked by the guard, one deadline for
//! the whole fetch, and the body read up to [`Limits::max_bytes`].
use crate::guard::{self, GuardedResolver, Refused};
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, LOCATION, SET_COOKIE};
use std::net::IpAddr;
use std::time::Duration;
use url::Url;

/// The bounds of a fetch.
#[derive(Debug, Clone)]
pub struct Limits {
    pub timeout: Duration,
    pub max_redirects: usize,
    pub max_bytes: usize,
    pub allow_private: bool,
    /// Addresses reachable although not public, without allowing every private one (for
    /// an embedding server's own fixtures and tests; no setting exposes it).
    pub exempt: Vec<IpAddr>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: Duration::from_secs(15),
            max_redirects: 5,
            max_bytes: 5 * 1024 * 1024,
            allow_private: false,
            exempt: vec![],
        }
    }
}

/// A fetched page.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The URL after redirects.
    pub url: Url,
    /// `Set-Cookie` values of every hop, with the URL of the hop that set them.
    pub cookies: Vec<(Url, String)>,
    /// Whether the body is HTML (or of no stated type).
    pub html: bool,
    pub body: Vec<u8>,
}

/// The HTTP client of scans: no proxy, no automatic redirects, the guarded resolver.
pub fn client(limits: &Limits) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(std::sync::Arc::new(GuardedResolver {
            allow_private: limits.allow_private,
            exempt: limits.exempt.clone(),
        }))
        .connect_timeout(limits.timeout)
        .user_agent(concat!("AccordScanner/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

/// Why a page could not be fetched, in words for the scan's `error` and the logs.
fn describe(e: &reqwest::Error) -> String {
    let mut source: Option<&dyn std::error::Error> = Some(e);
    while let Some(s) = source {
        if let Some(r) = s.downcast_ref::<Refused>() {
            return r.0.clone();
        }
        // An io::Error's `source` skips the error it wraps: look inside it.
        if let Some(r) = s
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<Refused>())
        {
            return r.0.clone();
        }
        source = s.source();
    }
    if e.is_timeout() {
        return "timed out".into();
    }
    if e.is_connect() {
        return "could not connect".into();
    }
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg = format!("{msg}: {s}");
        source = s.source();
    }
    msg
}

/// Fetches `url` within the limits.
pub async fn fetch(
    client: &reqwest::Client,
    limits: &Limits,
    url: &str,
) -> Result<Fetched, String> {
    let url = Url::parse(url).map_err(|e| format!("{url} is not a URL: {e}"))?;
    match tokio::time::timeout(limits.timeout, fetch_within(client, limits, url.clone())).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "{url}: no complete answer within {} s",
            limits.timeout.as_secs_f64()
        )),
    }
}

async fn fetch_within(
    client: &reqwest::Client,
    limits: &Limits,
    mut url: Url,
) -> Result<Fetched, String> {
    let mut cookies = Vec::new();
    let mut hops = 0;
    let resp = loop {
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(format!("{url}: only http and https are fetched"));
        }
        // A literal address never reaches the resolver: it is checked here.
        let literal = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            Some(url::Host::Domain(_)) => None,
            None => return Err(format!("{url}: no host")),
        };
        if let Some(ip) = literal {
            guard::check_with(&ip.to_string(), ip, limits.allow_private, &limits.exempt)
                .map_err(|r| format!("{url}: {r}"))?;
        }
        let resp = client
            .get(url.clone())
            .send()
            .await
            .map_err(|e| format!("{url}: {}", describe(&e)))?;
        for v in resp.headers().get_all(SET_COOKIE) {
            if let Ok(v) = v.to_str() {
                cookies.push((url.clone(), v.to_owned()));
            }
        }
        if !resp.status().is_redirection() {
            break resp;
        }
        let Some(next) = resp
            .headers()
            .get(LOCATION)
            .and_then(|l| l.to_str().ok())
            .and_then(|l| url.join(l).ok())
        else {
            break resp;
        };
        hops += 1;
        if hops > limits.max_redirects {
            return Err(format!(
                "{url}: more than {} redirects",
                limits.max_redirects
            ));
        }
        url = next;
    };
    let html = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|ct| {
            let ct = ct.to_ascii_lowercase();
            ct.starts_with("text/html") || ct.starts_with("application/xhtml")
        });
    let too_big = || format!("{url}: the page is larger than {} bytes", limits.max_bytes);
    let declared = resp
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_bytes as u64) {
        return Err(too_big());
    }
    let mut body = Vec::new();
    let mut resp = resp;
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| format!("{url}: {}", describe(&e)))?
    {
        if body.len() + chunk.len() > limits.max_bytes {
            return Err(too_big());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Fetched {
        url,
        cookies,
        html,
        body,
    })
}
