//! Usage metrics (§7.10): UTC calendar months, the items of the metrics list (one per
//! project and month, ordered by month then project), and what the store counts for them.
use chrono::{Datelike, TimeZone, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use uuid::Uuid;

/// The earliest and latest instants the metrics accept: years 1 to 9999.
pub const MIN_INSTANT: i64 = -62_135_596_800_000;
pub const MAX_INSTANT: i64 = 253_402_300_799_999;

/// A month as a count of months since year 0 (`year * 12 + month - 1`).
pub fn month_of(ms: i64) -> i64 {
    let d = Utc
        .timestamp_millis_opt(ms.clamp(MIN_INSTANT, MAX_INSTANT))
        .single()
        .unwrap_or_default();
    i64::from(d.year()) * 12 + i64::from(d.month0())
}

/// Epoch ms at the start of a month counted by [`month_of`].
pub fn month_start(month: i64) -> i64 {
    let year = month.div_euclid(12) as i32;
    let m = month.rem_euclid(12) as u32 + 1;
    Utc.with_ymd_and_hms(year, m, 1, 0, 0, 0)
        .single()
        .map(|d| d.timestamp_millis())
        .unwrap_or(MAX_INSTANT)
}

/// The months overlapping `[start, end)`, as `(first, count)`; `start < end`.
pub fn months(start: i64, end: i64) -> (i64, i64) {
    let first = month_of(start);
    let last = month_of(end - 1);
    (first, (last - first + 1).max(0))
}

/// The stable id of a metrics item: a UUID v7 whose time is the month and whose other bits
/// come from the project and the month.
pub fn item_id(project: Uuid, period: i64) -> Uuid {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(project.as_bytes());
    h.update(period.to_be_bytes());
    let digest = h.finalize();
    let mut rest = [0u8; 10];
    rest.copy_from_slice(&digest[..10]);
    uuid::Builder::from_unix_timestamp_millis(period.max(0) as u64, &rest).into_uuid()
}

/// What the store counts for one project and one month.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MonthCounts {
    /// Compliance requests with `requestDate` in the month, by current status.
    pub requests_by_status: BTreeMap<String, i64>,
    /// `status_changed` events of the month, by the status entered.
    pub state_changed: BTreeMap<String, i64>,
    pub consent_events: i64,
    pub consent_reads: i64,
    pub sessions: i64,
    pub unique_sessions: i64,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct RequestMetrics {
    /// Compliance requests whose `requestDate` falls in the period.
    pub created: i64,
    /// Those requests by their current status: `{<status>: n}`, every status listed.
    pub state_count: BTreeMap<String, i64>,
    /// Transitions into each status during the period: `{<status>: n}`.
    pub state_changed: BTreeMap<String, i64>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct ConsentEventMetrics {
    /// Consent events recorded in the period.
    pub created: i64,
    /// Site API reads of consent state or consent events in the period (counted in memory,
    /// added every `ACCORD_METRICS_FLUSH_INTERVAL` seconds).
    pub read: i64,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct SessionMetrics {
    /// Site sessions minted in the period.
    pub created: i64,
    /// Distinct `concordId`s among them.
    pub unique: i64,
}

/// One item of the metrics list (§7.10).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct MetricsItem {
    /// Id of the item (UUID), the same for a project and period on every call.
    pub id: Uuid,
    /// The project counted.
    pub project: Uuid,
    /// Start of the UTC calendar month counted, in epoch milliseconds.
    pub period: i64,
    /// `true` once the month has ended: the counts no longer change.
    pub finalized: bool,
    /// Compliance requests of the project in the month.
    pub compliance_requests: RequestMetrics,
    /// Consent events of the project in the month.
    pub consent_events: ConsentEventMetrics,
    /// Site sessions of the project in the month.
    pub sessions: SessionMetrics,
}

/// Every status of §3.7 with 0, then the counted ones.
fn by_status(counted: &BTreeMap<String, i64>) -> BTreeMap<String, i64> {
    let mut out: BTreeMap<String, i64> = crate::compliance::STATUSES
        .iter()
        .map(|s| (s.to_string(), 0))
        .collect();
    for (k, v) in counted {
        *out.entry(k.clone()).or_default() += v;
    }
    out
}

impl MetricsItem {
    /// The item of `project` for the month starting at `period`, at time `now`.
    pub fn new(project: Uuid, period: i64, next_period: i64, now: i64, c: &MonthCounts) -> Self {
        MetricsItem {
            id: item_id(project, period),
            project,
            period,
            finalized: next_period <= now,
            compliance_requests: RequestMetrics {
                created: c.requests_by_status.values().sum(),
                state_count: by_status(&c.requests_by_status),
                state_changed: by_status(&c.state_changed),
            },
            consent_events: ConsentEventMetrics {
                created: c.consent_events,
                read: c.consent_reads,
            },
            sessions: SessionMetrics {
                created: c.sessions,
                unique: c.unique_sessions,
            },
        }
    }
}

/// Consent-state and consent-event reads of the Site API counted in memory, for one
/// project and month, added to the stored count by one write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadCount {
    pub organization_id: Uuid,
    pub project_id: Uuid,
    pub period: i64,
    pub reads: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_are_utc_calendar_months() {
        let jan = month_start(month_of(1_706_745_599_999)); // 2024-01-31T23:59:59.999Z
        assert_eq!(jan, 1_704_067_200_000);
        assert_eq!(month_start(month_of(1_706_745_600_000)), 1_706_745_600_000);
        assert_eq!(
            months(1_704_067_200_000, 1_706_745_600_000),
            (month_of(jan), 1)
        );
        assert_eq!(months(1_704_067_200_000, 1_706_745_600_001).1, 2);
        assert_eq!(month_start(month_of(MAX_INSTANT) + 1), MAX_INSTANT + 1);
        assert_eq!(month_start(month_of(MIN_INSTANT)), MIN_INSTANT);
    }

    #[test]
    fn ids_are_stable_v7() {
        let p = Uuid::now_v7();
        let a = item_id(p, 1_704_067_200_000);
        assert_eq!(a, item_id(p, 1_704_067_200_000));
        assert_ne!(a, item_id(p, 1_706_745_600_000));
        assert_eq!(a.get_version_num(), 7);
    }
}
