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
