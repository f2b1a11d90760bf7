//! Recording detected trackers (§5.7, §8.3) and tracker scans (§8.3): a scan is started as
//! a `running` entry holding a database lease, the [`ScanEngine`](crate::scans::ScanEngine)
//! fetches and detects, and what it detected is matched and recorded here, the same for
//! every engine and for site reports.
use crate::query::Page;
use crate::scans::{
    replay_findings, results_of, Scan, ScanReport, ScanResults, ScanTarget, NO_DOMAINS,
};
use crate::site::DomainFilter;
use crate::store::{Project, Store};
use crate::time::now_ms;
use crate::trackers::{plan_detections, Detection};
use crate::{Error, Result};

/// Matches `detections` against the project's trackers and records them: `dateDetected`
/// of the trackers seen, new `autoscan`, `unclassified` trackers for the others. Returns
/// the counts of a scan.
pub async fn record_detections(
    store: &dyn Store,
    project: &Project,
    detections: &[Detection],
    now: i64,
) -> Result<ScanResults> {
    Ok(record_matched(store, project, detections, now).await?.0)
}

/// [`record_detections`], with the tracker (id, name, category) of each detection, in order.
async fn record_matched(
    store: &dyn Store,
    project: &Project,
    detections: &[Detection],
    now: i64,
) -> Result<(ScanResults, Vec<(uuid::Uuid, String, String)>)> {
    // Only a tracker of the same name, or one with a pattern, can be a detection's match.
    let mut names: Vec<String> = detections.iter().map(|d| d.name.clone()).collect();
    names.sort_unstable();
    names.dedup();
    let existing = store
        .tracker_candidates(project.id, &names, &[], true)
        .await?;
    let plan = plan_detections(
        detections,
        &existing,
        project.organization_id,
        project.id,
        now,
        crate::ids::new_id,
    );
    store.record_detections(project.id, &plan, now).await?;
    let matched = plan
        .outcome
        .iter()
        .map(|(id, _)| {
            let t = existing.iter().chain(&plan.new).find(|t| t.id == *id);
            (
                *id,
                t.map_or_else(String::new, |t| t.name.clone()),
                t.map_or_else(|| "unclassified".into(), |t| t.category.clone()),
            )
        })
        .collect();
    Ok((results_of(&plan, &existing), matched))
}

/// Stores a new `running` scan of `project` with a lease of `lease_ms`, and what the engine
/// is to fetch. 422 when the project has no domains or a scan of it is running.
pub async fn start(
    store: &dyn Store,
    project: &Project,
    scan_type: &str,
    lease_ms: i64,
) -> Result<(Scan, ScanTarget)> {
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
    if domains.is_empty() {
        return Err(Error::unprocessable(NO_DOMAINS));
    }
    let now = now_ms();
    let scan = Scan {
        id: crate::ids::new_id(),
        organization_id: project.organization_id,
        project_id: project.id,
        date: now,
        status: "running".into(),
        scan_type: scan_type.into(),
        domains_count: domains.len() as i64,
        results: ScanResults::default(),
    };
    store.start_scan(&scan, now + lease_ms).await?;
    let target = ScanTarget {
        organization_id: project.organization_id,
        project_id: project.id,
        scan_id: scan.id,
        urls: domains
            .iter()
            .map(|d| {
                d.url
                    .clone()
                    .unwrap_or_else(|| format!("https://{}/", d.domain))
            })
            .collect(),
        domains: domains.iter().map(|d| d.domain.clone()).collect(),
        deep: project
            .settings
            .pointer("/trackers/deepScan")
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false),
    };
    Ok((scan, target))
}

/// Ends a started scan with what its engine reported: the detections are recorded and
/// the scan is written `completed` with its results, or `failed` when the engine failed.
/// A scan whose lease was lost meanwhile (another server marked it `failed`) stays so;
/// its detections are recorded all the same.
pub async fn finish(
    store: &dyn Store,
    project: &Project,
    mut scan: Scan,
    detected: Result<ScanReport>,
) -> Result<Scan> {
    match detected {
        Ok(report) => {
            // The declined visit's detections are detections of the site too; they are
            // matched with the others, then judged by their tracker's category.
            let mut all = report.detections;
            let first = all.len();
            if let Some(obs) = &report.replay {
                all.extend(obs.seen.iter().map(|(d, _)| d.clone()));
            }
            let (mut results, matched) = record_matched(store, project, &all, now_ms()).await?;
            results.consent_replay = report
                .replay
                .as_ref()
                .map(|obs| replay_findings(obs, matched.get(first..).unwrap_or_default()));
            scan.results = results;
            scan.status = "completed".into();
        }
        Err(_) => scan.status = "failed".into(),
    }
    if !store.finish_scan(&scan).await? {
        scan.status = "failed".into();
    }
    Ok(scan)
}
