//! Accord's scan engines (§8.3, §8.4): the static engine fetches a project's pages without
//! running their JavaScript, behind the network guard of [`guard`], and reports the cookies
//! and third-party elements it sees, or the Google Consent Mode issues of a page; the
//! [`browser`] engine runs them in headless Chromium behind the guarded [`proxy`].
pub mod browser;
pub mod fetch;
pub mod gcm;
pub mod guard;
pub mod html;
pub mod proxy;

use accord_core::gcm::{GcmContext, GcmIssue};
use accord_core::scans::{ScanEngine, ScanTarget};
use accord_core::trackers::Detection;
use fetch::{Fetched, Limits};
use futures::StreamExt;
use url::Url;

/// Pages a deep scan fetches besides the first (§8.3).
pub const DEEP_PAGES: usize = 20;
/// Detections one scan reports at most (a page can name any number of hosts; trackers are
/// created 1000 at most per call elsewhere too).
pub const MAX_DETECTIONS: usize = 1000;
/// Pages of a deep scan fetched at once.
pub(crate) const DEEP_CONCURRENCY: usize = 4;

/// The static engine.
#[derive(Debug)]
pub struct StaticEngine {
    limits: Limits,
    client: reqwest::Client,
}

impl StaticEngine {
    pub fn new(limits: Limits) -> Self {
        let client = fetch::client(&limits);
        StaticEngine { limits, client }
    }

    async fn fetch(&self, url: &str) -> Result<Fetched, String> {
        fetch::fetch(&self.client, &self.limits, url).await
    }
}

/// Whether `host` is one of the project's domains or below one.
pub fn first_party(host: &str, domains: &[String]) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    domains.iter().any(|d| {
        host == *d
            || host
                .strip_suffix(d.as_str())
                .is_some_and(|rest| rest.ends_with('.'))
    })
}

/// The cookie of a `Set-Cookie` value received from `from`: its name, on its `Domain`
/// (without the leading dot) or else the host that set it.
pub fn cookie(from: &Url, set_cookie: &str) -> Option<Detection> {
    let mut parts = set_cookie.split(';');
    let name = parts.next()?.split('=').next()?.trim();
    if name.is_empty() {
        return None;
    }
    let domain = parts
        .filter_map(|a| a.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("domain"))
        .map(|(_, v)| v.trim().trim_start_matches('.').to_ascii_lowercase())
        .filter(|d| !d.is_empty())
        .or_else(|| from.host_str().map(str::to_ascii_lowercase));
    Some(Detection {
        name: name.chars().take(256).collect(),
        tracker_type: "cookie".into(),
        domain,
        pattern: None,
    })
}

/// The detections of a fetched page: its cookies and the elements it loads from hosts
/// outside the project's domains (`name` = host + path, `domain` = host).
pub fn detections(page: &Fetched, parsed: &html::Page, domains: &[String]) -> Vec<Detection> {
    let mut out: Vec<Detection> = page
        .cookies
        .iter()
        .filter_map(|(from, v)| cookie(from, v))
        .collect();
    for item in &parsed.items {
        let html::Item::Load { tag, url, .. } = item else {
            continue;
        };
        let Some(host) = url.host_str() else { continue };
        if first_party(host, domains) {
            continue;
        }
        let host = host.to_ascii_lowercase();
        let tracker_type = match *tag {
            "img" => "image",
            other => other,
        };
        out.push(Detection {
            name: format!("{host}{}", url.path()).chars().take(256).collect(),
            tracker_type: tracker_type.into(),
            domain: Some(host),
            pattern: None,
        });
    }
    out
}

/// Parses a fetched page on a blocking thread (up to 5 MiB of markup is CPU work that must
/// not hold up the server's other tasks); a page the parser fails on reads as empty.
async fn parse(page: Fetched) -> (Fetched, html::Page) {
    if !page.html {
        return (page, html::Page::default());
    }
    let url = page.url.clone();
    tokio::task::spawn_blocking(move || {
        let parsed = html::parse(&page.url, &page.body);
        (page, parsed)
    })
    .await
    .unwrap_or_else(|e| {
        tracing::warn!(url = %url, error = %e, "page could not be parsed");
        (
            Fetched {
                url,
                cookies: vec![],
                html: false,
                body: vec![],
            },
            html::Page::default(),
        )
    })
}

/// The same-host pages linked from `page` that a deep scan fetches.
fn deep_links(page: &Fetched, parsed: &html::Page) -> Vec<Url> {
    let mut out: Vec<Url> = Vec::new();
    for link in &parsed.links {
        if out.len() == DEEP_PAGES {
            break;
        }
        if link.host_str() == page.url.host_str()
            && link.port_or_known_default() == page.url.port_or_known_default()
            && *link != page.url
            && !out.contains(link)
        {
            out.push(link.clone());
        }
    }
    out
}

/// `found` without repeats, in order, at most [`MAX_DETECTIONS`].
pub(crate) fn distinct(found: Vec<Detection>, target: &ScanTarget) -> Vec<Detection> {
    let mut seen = std::collections::HashSet::new();
    let total = found.len();
    let unique: Vec<Detection> = found
        .into_iter()
        .filter(|d| seen.insert((d.tracker_type.clone(), d.name.clone(), d.domain.clone())))
        .take(MAX_DETECTIONS)
        .collect();
    if unique.len() == MAX_DETECTIONS && total > MAX_DETECTIONS {
        tracing::warn!(scan = %target.scan_id, kept = MAX_DETECTIONS, "scan detections capped");
    }
    unique
}

impl StaticEngine {
    /// The detections of one domain's page (and, deep, of its linked pages).
    async fn scan_url(&self, url: &str, target: &ScanTarget) -> Result<Vec<Detection>, String> {
        let (page, parsed) = parse(self.fetch(url).await?).await;
        let mut found = detections(&page, &parsed, &target.domains);
        if target.deep {
            let links = deep_links(&page, &parsed);
            let pages: Vec<_> = futures::stream::iter(links)
                .map(|l| async move { self.fetch(l.as_str()).await })
                .buffer_unordered(DEEP_CONCURRENCY)
                .collect()
                .await;
            for p in pages {
                match p {
                    Ok(p) => {
                        let (p, parsed) = parse(p).await;
                        found.extend(detections(&p, &parsed, &target.domains));
                    }
                    Err(e) => {
                        tracing::info!(scan = %target.scan_id, reason = %e, "deep scan page skipped")
                    }
                }
            }
        }
        Ok(found)
    }
}

#[async_trait::async_trait]
impl ScanEngine for StaticEngine {
    /// Every domain's page is scanned; one that cannot be fetched (refused by the guard,
    /// unreachable, too slow, too large, too many redirects) is skipped and logged, and
    /// the scan fails when no domain's page could be fetched.
    async fn scan(&self, target: &ScanTarget) -> accord_core::Result<Vec<Detection>> {
        let mut found = Vec::new();
        let mut failures = Vec::new();
        for url in &target.urls {
            match self.scan_url(url, target).await {
                Ok(d) => found.extend(d),
                Err(e) => {
                    tracing::warn!(scan = %target.scan_id, reason = %e, "scan target skipped");
                    failures.push(e);
                }
            }
        }
        if !target.urls.is_empty() && failures.len() == target.urls.len() {
            return Err(accord_core::Error::internal(failures.join("; ")));
        }
        Ok(distinct(found, target))
    }

    async fn gcm(&self, url: &str, ctx: &GcmContext) -> Result<Vec<GcmIssue>, String> {
        let (_, parsed) = parse(self.fetch(url).await?).await;
        Ok(gcm::check(&parsed, ctx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detections_are_distinct_and_capped() {
        let target = ScanTarget {
            organization_id: uuid::Uuid::nil(),
            project_id: uuid::Uuid::nil(),
            scan_id: uuid::Uuid::nil(),
            urls: vec![],
            domains: vec![],
            deep: false,
        };
        let d = |i: usize| Detection {
            name: format!("h{i}.example/x"),
            tracker_type: "image".into(),
            domain: Some(format!("h{i}.example")),
            pattern: None,
        };
        let found: Vec<Detection> = (0..3).map(d).chain((0..3).map(d)).collect();
        assert_eq!(distinct(found, &target), (0..3).map(d).collect::<Vec<_>>());
        let many: Vec<Detection> = (0..200_000).map(|i| d(i % 150_000)).collect();
        let kept = distinct(many, &target);
        assert_eq!(kept.len(), MAX_DETECTIONS);
        assert_eq!(kept[999], d(999));
    }

    #[test]
    fn hosts_within_the_project_domains_are_first_party() {
        let domains = vec!["example.com".to_string()];
        assert!(first_party("example.com", &domains));
        assert!(first_party("www.Example.com", &domains));
        assert!(!first_party("badexample.com", &domains));
        assert!(!first_party("example.com.evil.net", &domains));
    }

    #[test]
    fn cookies_take_their_domain_attribute_or_the_host() {
        let from = Url::parse("https://shop.example.com/").unwrap();
        let c = cookie(&from, "_ga=GA1.2; Path=/; Domain=.Example.com; Secure").unwrap();
        assert_eq!(c.name, "_ga");
        assert_eq!(c.domain.as_deref(), Some("example.com"));
        let c = cookie(&from, "sid=1; HttpOnly").unwrap();
        assert_eq!(c.domain.as_deref(), Some("shop.example.com"));
        assert!(cookie(&from, "=x").is_none());
    }
}
