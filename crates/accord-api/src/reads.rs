//! The `consentEvents.read` metric (§7.10): Site API reads of consent state and consent
//! events are counted in memory per project and UTC month, and every
//! `ACCORD_METRICS_FLUSH_INTERVAL` one statement adds them to the stored counts. A read
//! costs a map update, never a write; a crash loses at most the reads of the last interval.
//! A failed flush keeps its counts for the next one.
use crate::AppState;
use accord_core::metrics::{month_of, month_start, ReadCount};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use uuid::Uuid;

/// Reads not yet stored, by organization, project and month start.
#[derive(Debug, Default)]
pub struct ReadCounter {
    pending: Mutex<HashMap<(Uuid, Uuid, i64), i64>>,
}

impl ReadCounter {
    /// Counts one read of `project` at `now` (epoch ms).
    pub fn record(&self, organization: Uuid, project: Uuid, now: i64) {
        let period = month_start(month_of(now));
        let mut g = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        *g.entry((organization, project, period)).or_default() += 1;
    }

    /// Takes every pending count.
    fn take(&self) -> Vec<ReadCount> {
        let mut g = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        g.drain()
            .map(|((organization_id, project_id, period), reads)| ReadCount {
                organization_id,
                project_id,
                period,
                reads,
            })
            .collect()
    }

    /// Puts back counts a flush could not store.
    fn restore(&self, counts: Vec<ReadCount>) {
        let mut g = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        for c in counts {
            *g.entry((c.organization_id, c.project_id, c.period))
                .or_default() += c.reads;
        }
    }
}

/// Stores the pending counts; on failure they stay pending.
pub async fn flush(state: &AppState) -> accord_core::Result<()> {
    let counts = state.reads.take();
    if counts.is_empty() {
        return Ok(());
    }
    match state.store.add_consent_reads(&counts).await {
        Ok(()) => Ok(()),
        Err(e) => {
            state.reads.restore(counts);
            Err(e.into())
        }
    }
}

/// Flushes every `ACCORD_METRICS_FLUSH_INTERVAL`.
pub async fn run_flush(state: AppState) {
    let period = Duration::from_millis(state.config.read_flush_interval_ms.max(10));
    loop {
        tokio::time::sleep(period).await;
        let result = flush(&state).await;
        crate::metrics::record_job("consent_reads_flush", result.is_ok());
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not store the consent-read counts");
        }
    }
}
