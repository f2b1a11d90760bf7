//! GCM scans (§8.4): a scan is stored `running`, the
//! [`ScanEngine`](crate::scans::ScanEngine) checks each page, and the scan is written
//! `completed` or `failed` with what it found.
use crate::gcm::{GcmContext, GcmScan, GcmScanBody};
use crate::query::Page;
use crate::regions::DEFAULT_CODE;
use crate::scans::{ScanEngine, NO_DOMAINS};
use crate::site::DomainFilter;
use crate::store::{Project, Store};
use crate::time::now_ms;
use crate::{Error, Result};

/// What a started GCM scan checks.
#[derive(Debug, Clone)]
pub struct GcmWork {
    pub urls: Vec<String>,
    pub ctx: GcmContext,
}

/// Stores a new `running` GCM scan of the body's `url`, or of every project domain (422
/// `project has no domains` without one). `lease_per_page_ms` bounds how long each page
/// may keep it running before the scan job fails it.
pub async fn start(
    store: &dyn Store,
    project: &Project,
    body: &GcmScanBody,
    lease_per_page_ms: i64,
) -> Result<(GcmScan, GcmWork)> {
    let urls = match &body.url {
        Some(u) => vec![u.clone()],
        None => {
            let page = Page {
                offset: 0,
                limit: 1000,
                sort: "dateCreated".into(),
                desc: false,
            };
            let filter = DomainFilter {
                project_id: project.id,
                domain: None,
            };
            let (_, domains) = store.list_domains(&filter, &page).await?;
            domains
                .iter()
                .map(|d| {
                    d.url
                        .clone()
                        .unwrap_or_else(|| format!("https://{}/", d.domain))
                })
                .collect()
        }
    };
    if urls.is_empty() {
        return Err(Error::unprocessable(NO_DOMAINS));
    }
    let regions = store.list_regions(project.id).await?;
    let gcm = regions
        .iter()
        .find(|r| r.draft.is_default || r.draft.regions.iter().any(|c| c == DEFAULT_CODE))
        .and_then(|r| {
            r.draft
                .settings
                .pointer("/consent/gcm")
                .and_then(|v| v.as_str())
        })
        .unwrap_or("disabled");
    let now = now_ms();
    let scan = GcmScan {
        id: crate::ids::new_id(),
        organization_id: project.organization_id,
        project_id: project.id,
        scan_type: if body.url.is_some() {
            "custom"
        } else {
            "domains"
        }
        .into(),
        url: body.url.clone(),
        status: "running".into(),
        date_created: now,
        date_completed: None,
        results: vec![],
        error: None,
    };
    let lease = lease_per_page_ms.saturating_mul(urls.len() as i64 + 1);
    store
        .start_gcm_scan(&scan, now.saturating_add(lease))
        .await?;
    let ctx = GcmContext {
        project_id: project.id,
        gcm_disabled: gcm == "disabled",
    };
    Ok((scan, GcmWork { urls, ctx }))
}

/// Checks every page of a started scan, one after the other, and writes how it ended.
pub async fn run(
    store: &dyn Store,
    engine: &dyn ScanEngine,
    mut scan: GcmScan,
    work: GcmWork,
) -> Result<GcmScan> {
    let mut outcomes = Vec::with_capacity(work.urls.len());
    for url in work.urls {
        let outcome = engine.gcm(&url, &work.ctx).await;
        outcomes.push((url, outcome));
    }
    crate::gcm::finish(&mut scan, outcomes, now_ms());
    // A scan that the scan job failed meanwhile (its lease ended) keeps that end.
    store.finish_gcm_scan(&scan).await?;
    Ok(scan)
}
