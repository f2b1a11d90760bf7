//! Background jobs inside `accord serve` (§9.5). A run is claimed through the database, so
//! with several servers on one database each run happens once; the purge itself locks each
//! request, so a file is purged exactly once even when runs overlap.
use crate::AppState;
use accord_core::compliance::Actor;
use accord_core::time::now_ms;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The file purge (§3.8): every request whose `filePurgeDate` has passed loses its stored
/// bytes and its `files`, and gets a `files_purged` event.
pub async fn run_purge(state: AppState) {
    let owner = uuid::Uuid::new_v4().to_string();
    let period = state.config.purge_interval_ms.max(10);
    loop {
        match state
            .store
            .claim_job("file_purge", now_ms(), period, &owner)
            .await
        {
            Ok(true) => {
                let result = purge_due_files(&state).await;
                crate::metrics::record_job("file_purge", result.is_ok());
                match result {
                    Ok(n) if n > 0 => tracing::info!(requests = n, "purged response files"),
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "file purge failed"),
                }
            }
            Ok(false) => {}
            Err(e) => tracing::error!(error = %e, "could not claim the file purge"),
        }
        tokio::time::sleep(Duration::from_millis((period as u64 / 4).clamp(5, 60_000))).await;
    }
}

/// Purges every due request; returns how many were purged.
pub async fn purge_due_files(state: &AppState) -> accord_core::Result<usize> {
    let mut purged = 0;
    loop {
        let now = now_ms();
        let due = state.store.due_purges(now, 100).await?;
        if due.is_empty() {
            return Ok(purged);
        }
        let mut progressed = false;
        for (org, project, id) in due {
            let keys: Arc<Mutex<Vec<String>>> = Arc::default();
            let sink = keys.clone();
            accord_core::usecases::compliance_requests::update(
                state.store.as_ref(),
                state.mail_wake.as_ref(),
                (org, project, id),
                Actor { account_id: None },
                move |cr| {
                    Ok(match accord_core::lifecycle::purge_files(cr, now) {
                        Some((k, event)) => {
                            *sink.lock().unwrap_or_else(|e| e.into_inner()) = k;
                            vec![event]
                        }
                        None => vec![],
                    })
                },
            )
            .await?;
            let keys = std::mem::take(&mut *keys.lock().unwrap_or_else(|e| e.into_inner()));
            if !keys.is_empty() {
                purged += 1;
                progressed = true;
            }
            for key in keys {
                let path = object_store::path::Path::from(key.as_str());
                if let Err(e) = state.files.delete(&path).await {
                    tracing::warn!(%key, error = %e, "could not delete purged file bytes");
                }
            }
        }
        if !progressed {
            return Ok(purged);
        }
    }
}

/// Scheduled tracker scans (§8.3, §9.5): every `scan_check_interval_ms` each server fails
/// the running scans whose lease ended and starts the scans that are due.
pub async fn run_scheduled_scans(state: AppState) {
    let period = state.config.scan_check_interval_ms.max(10);
    loop {
        let result = start_due_scans(&state).await;
        crate::metrics::record_job("tracker_scans", result.is_ok());
        match result {
            Ok(n) if n > 0 => tracing::info!(scans = n, "started scheduled tracker scans"),
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "scheduled tracker scans failed"),
        }
        tokio::time::sleep(Duration::from_millis(period)).await;
    }
}

/// One pass of the scan job: marks `failed` every running scan whose lease ended, then
/// claims each due schedule (one statement moves it to its next time, so with several
/// servers on one database exactly one claims each run) and starts its scan in the
/// background. Returns how many scans it started.
pub async fn start_due_scans(state: &AppState) -> accord_core::Result<usize> {
    let now = now_ms();
    let failed = state.store.fail_expired_scans(now).await?;
    if failed > 0 {
        tracing::warn!(scans = failed, "tracker scans lost their lease and failed");
    }
    let mut started = 0;
    for s in state.store.due_schedules(now, 100).await? {
        let Some(due) = s.next_run else { continue };
        let next = accord_core::scans::next_run(&s, now.max(due));
        if !state.store.claim_schedule(s.project_id, due, next).await? {
            continue;
        }
        let Some(project) = state
            .store
            .get_project(s.organization_id, s.project_id)
            .await?
            .filter(|p| p.is_active())
        else {
            continue;
        };
        let lease = state.config.scan_lease_ms;
        match accord_core::usecases::tracker_scans::start(
            state.store.as_ref(),
            &project,
            "scheduled",
            lease,
        )
        .await
        {
            Ok((scan, target)) => {
                started += 1;
                tokio::spawn(run_scan(state.clone(), project, scan, target));
            }
            // No domains, or a scan still running: this run is skipped.
            Err(e) if e.status() == 422 => {
                tracing::info!(project = %s.project_id, reason = %e.public_message(), "scheduled tracker scan skipped");
            }
            Err(e) => return Err(e),
        }
    }
    Ok(started)
}

/// Runs a started scan through the server's engine, renewing its lease every third of
/// `scan_lease_ms` while the engine works, and writes how it ended.
pub async fn run_scan(
    state: AppState,
    project: accord_core::store::Project,
    scan: accord_core::scans::Scan,
    target: accord_core::scans::ScanTarget,
) {
    let lease = state.config.scan_lease_ms;
    let renew_every = Duration::from_millis((lease / 3).max(1) as u64);
    let engine = state.config.scan_engine.clone();
    let work = engine.report(&target);
    tokio::pin!(work);
    let detected = loop {
        tokio::select! {
            r = &mut work => break r,
            _ = tokio::time::sleep(renew_every) => {
                match state.store.renew_scan_lease(project.id, scan.id, now_ms() + lease).await {
                    Ok(true) => {}
                    Ok(false) => tracing::warn!(scan = %scan.id, "tracker scan lost its lease"),
                    Err(e) => tracing::warn!(scan = %scan.id, error = %e, "could not renew a tracker scan lease"),
                }
            }
        }
    };
    if let Err(e) = &detected {
        tracing::warn!(scan = %scan.id, error = %e, "tracker scan failed");
    }
    let id = scan.id;
    let result = accord_core::usecases::tracker_scans::finish(
        state.store.as_ref(),
        &project,
        scan,
        detected,
    )
    .await;
    crate::metrics::record_job("tracker_scan", result.is_ok());
    if let Err(e) = result {
        tracing::error!(scan = %id, error = %e, "could not record a tracker scan");
    }
}

/// How often the team digest job looks whether the day's digests were queued.
pub const TEAM_DIGEST_CHECK_MS: i64 = 15 * 60 * 1000;

/// The team's daily digest of requests due in seven days or overdue
/// (`accord_core::notifications`): every quarter of an hour one server claims the run and
/// queues the digests of the day not queued yet. A person gets at most one a day per
/// organization; the store keeps which were queued, so a restart or another server sends
/// nothing twice, and once all of a day's digests are queued the later runs of that UTC
/// day read one row and stop.
pub async fn run_team_digests(state: AppState) {
    let owner = uuid::Uuid::new_v4().to_string();
    let period = TEAM_DIGEST_CHECK_MS;
    loop {
        match state
            .store
            .claim_job("team_digest", now_ms(), period, &owner)
            .await
        {
            Ok(true) => {
                let result =
                    accord_core::notifications::run_due_digests(state.store.as_ref(), now_ms())
                        .await;
                crate::metrics::record_job("team_digest", result.is_ok());
                match result {
                    Ok(n) if n > 0 => {
                        tracing::info!(digests = n, "queued the team's due-date digests");
                        state.mail_wake.0.notify_one();
                    }
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "team digest failed"),
                }
            }
            Ok(false) => {}
            Err(e) => tracing::error!(error = %e, "could not claim the team digest"),
        }
        tokio::time::sleep(Duration::from_millis((period as u64 / 4).clamp(5, 60_000))).await;
    }
}
