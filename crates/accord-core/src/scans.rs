//! Tracker scan schedule and history of a project (§8.3): the PATCH body, the stored
//! schedule and scans, the published TrackerScanHistory, when a schedule is next due, the
//! results of a scan from what it detected, and [`ScanEngine`], the seam behind which
//! scans fetch pages and detect trackers.
use crate::schema::{string, Object, Schema};
use crate::trackers::{Detection, DetectionPlan, Tracker};
use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use serde::Serialize;
use std::sync::OnceLock;
use uuid::Uuid;

pub const SCAN_PERIODS: &[&str] = &["quarterly", "monthly", "weekly", "daily"];
/// Entries of `scanHistory` kept per project, newest first.
pub const HISTORY_KEPT: usize = 100;
/// The 422 of a manual scan while another scan of the project runs.
pub const SCAN_RUNNING: &str = "a scan is already running";
/// The 422 of a manual scan of a project without domains.
pub const NO_DOMAINS: &str = "project has no domains";

crate::body! {
    /// The PATCH body of the scan schedule (§8.3).
    pub struct SchedulePatch {
        /// Whether the project is scanned on its schedule.
        enabled: Option<bool> => "scheduledScanEnabled": Schema::Bool,
        /// How often: `daily`, `weekly`, `monthly` or `quarterly`.
        period: Option<String> => "scanPeriod": string().one_of(SCAN_PERIODS).s(),
        /// Hour of the day the scan runs, 0 to 23 (UTC).
        hour: Option<i64> => "scheduledHour": Schema::Int { min: Some(0), max: Some(23) },
        /// Day of a weekly scan, 0 (Sunday) to 6.
        day_of_week: Option<i64> => "scheduledDayOfWeek": Schema::Int { min: Some(0), max: Some(6) },
        /// Day of a monthly or quarterly scan, 1 to 31 (clamped to the month's last day).
        day_of_month: Option<i64> => "scheduledDayOfMonth": Schema::Int { min: Some(1), max: Some(31) },
    }
}

/// `PATCH …/tracker-scan-history`.
pub fn patch_schema() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    S.get_or_init(|| {
        Schema::Object(Object {
            props: SchedulePatch::props(),
            min_props: 1,
            ..Default::default()
        })
    })
}

/// The scan schedule of a project. `next_run` is when it is next due (none while disabled).
#[derive(Debug, Clone, PartialEq)]
pub struct ScanSchedule {
    pub organization_id: Uuid,
    pub project_id: Uuid,
    pub enabled: bool,
    pub period: String,
    pub hour: u32,
    pub day_of_week: u32,
    pub day_of_month: u32,
    pub next_run: Option<i64>,
}

impl ScanSchedule {
    /// The schedule of a project that never set one (§8.3 defaults).
    pub fn default_for(org: Uuid, project: Uuid) -> ScanSchedule {
        ScanSchedule {
            organization_id: org,
            project_id: project,
            enabled: false,
            period: "monthly".into(),
            hour: 3,
            day_of_week: 1,
            day_of_month: 1,
            next_run: None,
        }
    }

    /// Applies a validated PATCH and works out when the schedule is next due after `now`.
    pub fn apply(&mut self, b: &SchedulePatch, now: i64) {
        if let Some(e) = b.enabled {
            self.enabled = e;
        }
        if let Some(p) = &b.period {
            self.period = p.clone();
        }
        if let Some(h) = b.hour {
            self.hour = h as u32;
        }
        if let Some(d) = b.day_of_week {
            self.day_of_week = d as u32;
        }
        if let Some(d) = b.day_of_month {
            self.day_of_month = d as u32;
        }
        self.next_run = self.enabled.then(|| next_run(self, now));
    }
}

fn last_day_of_month(year: i32, month: u32) -> u32 {
    let (y, m) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1)
        .and_then(|d| d.pred_opt())
        .map_or(28, |d| d.day())
}

fn at(date: NaiveDate, hour: u32) -> i64 {
    Utc.from_utc_datetime(&date.and_hms_opt(hour.min(23), 0, 0).unwrap_or_default())
        .timestamp_millis()
}

/// The first scheduled time strictly after `after` (epoch ms, UTC) (§8.3): `daily` at
/// `scheduledHour`; `weekly` on `scheduledDayOfWeek` (0 = Sunday); `monthly` on
/// `scheduledDayOfMonth`, clamped to the month's last day; `quarterly` as monthly in
/// January, April, July and October.
pub fn next_run(s: &ScanSchedule, after: i64) -> i64 {
    let start = DateTime::<Utc>::from_timestamp_millis(after)
        .unwrap_or_default()
        .date_naive();
    match s.period.as_str() {
        "daily" | "weekly" => {
            for offset in 0..=8 {
                let day = start + Duration::days(offset);
                let weekday_ok =
                    s.period == "daily" || day.weekday().num_days_from_sunday() == s.day_of_week;
                let t = at(day, s.hour);
                if weekday_ok && t > after {
                    return t;
                }
            }
            after + 7 * crate::time::DAY_MS
        }
        _ => {
            let quarterly = s.period == "quarterly";
            let (mut year, mut month) = (start.year(), start.month());
            for _ in 0..=13 {
                if !quarterly || (month - 1) % 3 == 0 {
                    let day = s.day_of_month.clamp(1, last_day_of_month(year, month));
                    if let Some(date) = NaiveDate::from_ymd_opt(year, month, day) {
                        let t = at(date, s.hour);
                        if t > after {
                            return t;
                        }
                    }
                }
                if month == 12 {
                    year += 1;
                    month = 1;
                } else {
                    month += 1;
                }
            }
            after + 92 * crate::time::DAY_MS
        }
    }
}

/// The counts of a scan (§8.3).
#[derive(
    Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[schemars(deny_unknown_fields)]
pub struct ScanResults {
    /// Trackers detected.
    #[schemars(range(min = 0))]
    pub total: i64,
    /// Detected trackers the project did not have: created as `unclassified` (`origin:
    /// autoscan`).
    #[schemars(range(min = 0))]
    pub new: i64,
    /// Detected trackers that matched one of the project's (their `dateDetected` updated).
    #[schemars(range(min = 0))]
    pub project: i64,
    /// Always 0: Accord has no global tracker library.
    #[schemars(range(min = 0))]
    pub global: i64,
    /// Detected trackers by category.
    pub categories: CategoryCounts,
    /// What a second visit, as a visitor who declined every non-essential category, still
    /// loaded (browser engine only; absent from static scans).
    #[serde(
        rename = "consentReplay",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub consent_replay: Option<ConsentReplay>,
}

/// A tracker of category `marketing` or `analytics` that set a cookie or sent a request
/// while the visitor had declined.
pub const TRACKER_FIRED_AFTER_DECLINE: &str = "tracker_fired_after_decline";
/// A request to a Google measurement endpoint, sent while the visitor had declined,
/// that does not carry the denied consent state (`gcs=G100`).
pub const GOOGLE_CONSENT_NOT_DENIED: &str = "google_consent_not_denied";
/// Request URLs or cookie names kept as evidence of one issue.
pub const EVIDENCE_KEPT: usize = 20;
/// Issues one consent replay reports at most.
pub const REPLAY_ISSUES_KEPT: usize = 100;

/// The consent replay of a browser scan: each page loaded again, in a fresh browser
/// profile, as a visitor who declined every non-essential category.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct ConsentReplay {
    /// How the visitor declined: `site_client` (through the page's Accord site client,
    /// `declined` with `user_click` for every non-essential consent type) or `no_consent`
    /// (the page has no site client: no consent was given at all).
    #[schemars(extend("enum" = ["site_client", "no_consent"]))]
    pub mode: String,
    /// Whether the replay found no issue.
    pub passed: bool,
    /// What still happened after the decline, tracker by tracker.
    pub issues: Vec<ReplayIssue>,
}

/// One finding of a consent replay, with its evidence.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct ReplayIssue {
    /// `tracker_fired_after_decline` (a `marketing` or `analytics` tracker set a cookie or
    /// sent a request) or `google_consent_not_denied` (a Google measurement request did not
    /// carry `gcs=G100`).
    #[schemars(extend("enum" = ["tracker_fired_after_decline", "google_consent_not_denied"]))]
    pub code: String,
    /// What happened, in words.
    pub message: String,
    /// The project's tracker that fired (`tracker_fired_after_decline` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracker_id: Option<Uuid>,
    /// The tracker's name (`tracker_fired_after_decline` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracker_name: Option<String>,
    /// The tracker's category, `marketing` or `analytics` (`tracker_fired_after_decline` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// URLs of the requests sent after the decline (at most 20).
    #[schemars(length(max = 20))]
    pub requests: Vec<String>,
    /// Names of the cookies, and `localStorage` or `sessionStorage` keys, set after the
    /// decline (at most 20).
    #[schemars(length(max = 20))]
    pub cookies: Vec<String>,
}

/// What a scan engine observed: the detections, and the consent replay of an engine that
/// runs pages.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScanReport {
    pub detections: Vec<Detection>,
    pub replay: Option<ReplayObservation>,
}

/// What loaded during the declined visit.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReplayObservation {
    /// `site_client` or `no_consent` (see [`ConsentReplay::mode`]).
    pub mode: String,
    /// Each detection of the declined visit with its evidence.
    pub seen: Vec<(Detection, Evidence)>,
    /// Requests to Google measurement endpoints during the declined visit.
    pub google: Vec<String>,
}

/// Why a detection was made: the request URL, or the cookie's name.
#[derive(Debug, Clone, PartialEq)]
pub enum Evidence {
    Request(String),
    Cookie(String),
}

/// The `gcs` parameter of a Google request URL (`G1` + ad_storage + analytics_storage).
pub fn gcs_of(url: &str) -> Option<String> {
    let query = url.split_once('?')?.1.split('#').next()?;
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "gcs")
        .map(|(_, v)| v.to_string())
}

/// The consent replay's findings, once the declined visit's detections are matched
/// (`matched[i]` is the tracker id, name and category of `obs.seen[i]`).
pub fn replay_findings(
    obs: &ReplayObservation,
    matched: &[(Uuid, String, String)],
) -> ConsentReplay {
    let mut issues: Vec<ReplayIssue> = Vec::new();
    for ((_, evidence), (id, name, category)) in obs.seen.iter().zip(matched) {
        if category != "marketing" && category != "analytics" {
            continue;
        }
        let at = match issues.iter().position(|i| i.tracker_id == Some(*id)) {
            Some(n) => n,
            None => {
                if issues.len() == REPLAY_ISSUES_KEPT {
                    continue;
                }
                issues.push(ReplayIssue {
                    code: TRACKER_FIRED_AFTER_DECLINE.into(),
                    message: format!(
                        "the {category} tracker '{name}' set a cookie or sent a request after the visitor declined consent"
                    ),
                    tracker_id: Some(*id),
                    tracker_name: Some(name.clone()),
                    category: Some(category.clone()),
                    ..Default::default()
                });
                issues.len() - 1
            }
        };
        let (list, value) = match evidence {
            Evidence::Request(u) => (&mut issues[at].requests, u),
            Evidence::Cookie(c) => (&mut issues[at].cookies, c),
        };
        if list.len() < EVIDENCE_KEPT && !list.contains(value) {
            list.push(value.chars().take(2048).collect());
        }
    }
    let not_denied: Vec<String> = obs
        .google
        .iter()
        .filter(|u| gcs_of(u).as_deref() != Some("G100"))
        .take(EVIDENCE_KEPT)
        .map(|u| u.chars().take(2048).collect())
        .collect();
    if !not_denied.is_empty() && issues.len() < REPLAY_ISSUES_KEPT {
        issues.push(ReplayIssue {
            code: GOOGLE_CONSENT_NOT_DENIED.into(),
            message: "Google measurement requests sent after the visitor declined consent do not carry the denied consent state (gcs=G100)".into(),
            requests: not_denied,
            ..Default::default()
        });
    }
    ConsentReplay {
        mode: obs.mode.clone(),
        passed: issues.is_empty(),
        issues,
    }
}

/// Detected trackers by category; `do_not_sell`, `global_privacy_control` and
/// `limit_pii_use` are always 0.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[schemars(deny_unknown_fields)]
pub struct CategoryCounts {
    /// Detected `analytics` trackers.
    pub analytics: i64,
    /// Always 0: Accord does not count it.
    pub do_not_sell: i64,
    /// Detected `functional` trackers.
    pub functional: i64,
    /// Always 0: Accord does not count it.
    pub global_privacy_control: i64,
    /// Detected `ignored` trackers.
    pub ignored: i64,
    /// Always 0: Accord does not count it.
    pub limit_pii_use: i64,
    /// Detected `marketing` trackers.
    pub marketing: i64,
    /// Detected `strictly_necessary` trackers.
    pub strictly_necessary: i64,
    /// Detected `unclassified` trackers.
    pub unclassified: i64,
}

/// The results of a scan from its detection plan (§8.3): each detected tracker counts
/// once, as `new` or `project`, and under its category (`malicious` has no count).
pub fn results_of(plan: &DetectionPlan, existing: &[Tracker]) -> ScanResults {
    let mut r = ScanResults::default();
    let mut counted: Vec<Uuid> = Vec::new();
    for (id, created) in &plan.outcome {
        if counted.contains(id) {
            continue;
        }
        counted.push(*id);
        r.total += 1;
        if *created {
            r.new += 1;
        } else {
            r.project += 1;
        }
        let category = existing
            .iter()
            .chain(&plan.new)
            .find(|t| t.id == *id)
            .map_or("unclassified", |t| t.category.as_str());
        let c = &mut r.categories;
        match category {
            "analytics" => c.analytics += 1,
            "functional" => c.functional += 1,
            "ignored" => c.ignored += 1,
            "marketing" => c.marketing += 1,
            "strictly_necessary" => c.strictly_necessary += 1,
            "unclassified" => c.unclassified += 1,
            _ => {}
        }
    }
    r
}

/// One scan of a project.
#[derive(Debug, Clone, PartialEq)]
pub struct Scan {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub project_id: Uuid,
    pub date: i64,
    pub status: String,
    pub scan_type: String,
    pub domains_count: i64,
    pub results: ScanResults,
}

/// One entry of `scanHistory` (§8.3).
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct ScanEntry {
    /// When the scan started, in epoch milliseconds.
    pub date: i64,
    /// `running`, `completed` or `failed`.
    #[schemars(extend("enum" = ["running", "completed", "failed"]))]
    pub status: String,
    /// `manual` (started through the API) or `scheduled`.
    #[schemars(extend("enum" = ["manual", "scheduled"]))]
    pub scan_type: String,
    /// Id of the Accord job that ran the scan.
    pub task_arn: String,
    /// Number of project domains scanned.
    #[schemars(range(min = 0))]
    pub domains_count: i64,
    /// What the scan found; counts so far while it runs.
    pub results: ScanResults,
}

impl From<&Scan> for ScanEntry {
    fn from(s: &Scan) -> Self {
        ScanEntry {
            date: s.date,
            status: s.status.clone(),
            scan_type: s.scan_type.clone(),
            task_arn: s.id.to_string(),
            domains_count: s.domains_count,
            results: s.results.clone(),
        }
    }
}

/// The TrackerScanHistory object of §8.3.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct TrackerScanHistory {
    /// Whether the project is scanned on its schedule; default `false`.
    pub scheduled_scan_enabled: bool,
    /// The organization of the project.
    pub organization_id: Uuid,
    /// The project scanned.
    pub project_id: Uuid,
    /// How often: `daily`, `weekly`, `monthly` (the default) or `quarterly` (as monthly, in
    /// January, April, July and October).
    #[schemars(extend("enum" = ["quarterly", "monthly", "weekly", "daily"]))]
    pub scan_period: String,
    /// Hour of the day the scan runs, 0 to 23 (UTC); default 3.
    #[schemars(range(min = 0, max = 23))]
    pub scheduled_hour: u32,
    /// Day of a weekly scan, 0 (Sunday) to 6; default 1.
    #[schemars(range(min = 0, max = 6))]
    pub scheduled_day_of_week: u32,
    /// Day of a monthly or quarterly scan, 1 to 31 (clamped to the month's last day); default
    /// 1.
    #[schemars(range(min = 1, max = 31))]
    pub scheduled_day_of_month: u32,
    /// The project's scans, newest first; the last 100 are kept.
    #[schemars(length(max = 100))]
    pub scan_history: Vec<ScanEntry>,
}

impl TrackerScanHistory {
    pub fn new(s: &ScanSchedule, history: &[Scan]) -> Self {
        TrackerScanHistory {
            scheduled_scan_enabled: s.enabled,
            organization_id: s.organization_id,
            project_id: s.project_id,
            scan_period: s.period.clone(),
            scheduled_hour: s.hour,
            scheduled_day_of_week: s.day_of_week,
            scheduled_day_of_month: s.day_of_month,
            scan_history: history.iter().map(ScanEntry::from).collect(),
        }
    }
}

/// What a scan fetches: the project's domains as URLs (a domain's `url`, or
/// `https://{domain}/`), and whether to follow same-host links (`settings.trackers.deepScan`).
#[derive(Debug, Clone, PartialEq)]
pub struct ScanTarget {
    pub organization_id: Uuid,
    pub project_id: Uuid,
    pub scan_id: Uuid,
    pub urls: Vec<String>,
    /// The project's domain names: hosts within them are first-party.
    pub domains: Vec<String>,
    pub deep: bool,
}

/// The seam behind which a scan fetches pages and detects trackers (§8.3 fetch and
/// detection). Accord records what it reports: matching, new trackers and the results
/// are the same for every engine. A failed scan is reported as an error.
#[async_trait::async_trait]
pub trait ScanEngine: Send + Sync + std::fmt::Debug + 'static {
    async fn scan(&self, target: &ScanTarget) -> crate::Result<Vec<Detection>>;

    /// [`scan`](Self::scan), with what an engine that runs pages observes besides (the
    /// consent replay). The scan job calls this one.
    async fn report(&self, target: &ScanTarget) -> crate::Result<ScanReport> {
        Ok(ScanReport {
            detections: self.scan(target).await?,
            replay: None,
        })
    }

    /// Fetches `url` and checks its Google Consent Mode set-up (§8.4): the issues found,
    /// or why the page could not be checked (shown as the GCM scan's `error`).
    async fn gcm(
        &self,
        _url: &str,
        _ctx: &crate::gcm::GcmContext,
    ) -> std::result::Result<Vec<crate::gcm::GcmIssue>, String> {
        Err("no scan engine is available".into())
    }
}

/// The engine of a server built without one: every scan fails, so a scheduled scan shows
/// as `failed` in the history instead of a made-up result.
#[derive(Debug, Default)]
pub struct NoEngine;

#[async_trait::async_trait]
impl ScanEngine for NoEngine {
    async fn scan(&self, _target: &ScanTarget) -> crate::Result<Vec<Detection>> {
        Err(crate::Error::internal("no scan engine is available"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis()
    }

    fn schedule(period: &str, hour: u32, dow: u32, dom: u32) -> ScanSchedule {
        ScanSchedule {
            organization_id: Uuid::nil(),
            project_id: Uuid::nil(),
            enabled: true,
            period: period.into(),
            hour,
            day_of_week: dow,
            day_of_month: dom,
            next_run: None,
        }
    }

    fn seen(name: &str, evidence: Evidence) -> (Detection, Evidence) {
        (
            Detection {
                name: name.into(),
                tracker_type: "image".into(),
                domain: None,
                pattern: None,
            },
            evidence,
        )
    }

    #[test]
    fn the_replay_names_marketing_and_analytics_trackers_with_their_evidence() {
        let (px, ga, cdn) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        let obs = ReplayObservation {
            mode: "site_client".into(),
            seen: vec![
                seen("px", Evidence::Request("https://ads.example/px?a=1".into())),
                seen("px", Evidence::Request("https://ads.example/px?a=2".into())),
                seen("px", Evidence::Request("https://ads.example/px?a=1".into())),
                seen("_ga", Evidence::Cookie("_ga".into())),
                seen(
                    "cdn",
                    Evidence::Request("https://cdn.example/lib.js".into()),
                ),
            ],
            google: vec![
                "https://region1.google-analytics.com/g/collect?v=2&gcs=G100".into(),
                "https://region1.google-analytics.com/g/collect?v=2&gcs=G111&x=1".into(),
                "https://region1.google-analytics.com/g/collect?v=2".into(),
            ],
        };
        let m = |id, name: &str, category: &str| (id, name.to_string(), category.to_string());
        let matched = vec![
            m(px, "px", "marketing"),
            m(px, "px", "marketing"),
            m(px, "px", "marketing"),
            m(ga, "_ga", "analytics"),
            m(cdn, "cdn", "functional"),
        ];
        let r = replay_findings(&obs, &matched);
        assert_eq!(r.mode, "site_client");
        assert!(!r.passed);
        assert_eq!(r.issues.len(), 3);
        assert_eq!(r.issues[0].code, TRACKER_FIRED_AFTER_DECLINE);
        assert_eq!(r.issues[0].tracker_id, Some(px));
        assert_eq!(
            r.issues[0].requests,
            vec!["https://ads.example/px?a=1", "https://ads.example/px?a=2"]
        );
        assert_eq!(r.issues[1].tracker_id, Some(ga));
        assert_eq!(r.issues[1].cookies, vec!["_ga"]);
        assert!(r.issues[1].requests.is_empty());
        assert_eq!(r.issues[2].code, GOOGLE_CONSENT_NOT_DENIED);
        assert_eq!(r.issues[2].tracker_id, None);
        assert_eq!(r.issues[2].requests.len(), 2);

        let clean = replay_findings(
            &ReplayObservation {
                mode: "no_consent".into(),
                seen: vec![seen(
                    "cdn",
                    Evidence::Request("https://cdn.example/x".into()),
                )],
                google: vec!["https://www.google-analytics.com/g/collect?gcs=G100".into()],
            },
            &[m(cdn, "cdn", "unclassified")],
        );
        assert!(clean.passed && clean.issues.is_empty());
    }

    #[test]
    fn the_gcs_parameter_is_read_from_the_query() {
        assert_eq!(
            gcs_of("https://x/g/collect?v=2&gcs=G101#f").as_deref(),
            Some("G101")
        );
        assert_eq!(gcs_of("https://x/g/collect?gcsx=1"), None);
        assert_eq!(gcs_of("https://x/g/collect"), None);
    }

    #[test]
    fn daily_runs_at_the_hour() {
        let s = schedule("daily", 3, 0, 1);
        assert_eq!(
            next_run(&s, ms("2026-03-10T02:59:59Z")),
            ms("2026-03-10T03:00:00Z")
        );
        assert_eq!(
            next_run(&s, ms("2026-03-10T03:00:00Z")),
            ms("2026-03-11T03:00:00Z")
        );
        assert_eq!(
            next_run(&s, ms("2026-12-31T23:00:00Z")),
            ms("2027-01-01T03:00:00Z")
        );
    }

    #[test]
    fn weekly_runs_on_the_day_of_week() {
        // 2026-03-10 is a Tuesday.
        let monday = schedule("weekly", 3, 1, 1);
        assert_eq!(
            next_run(&monday, ms("2026-03-10T12:00:00Z")),
            ms("2026-03-16T03:00:00Z")
        );
        let tuesday = schedule("weekly", 13, 2, 1);
        assert_eq!(
            next_run(&tuesday, ms("2026-03-10T12:00:00Z")),
            ms("2026-03-10T13:00:00Z")
        );
        assert_eq!(
            next_run(&tuesday, ms("2026-03-10T13:00:00Z")),
            ms("2026-03-17T13:00:00Z")
        );
        let sunday = schedule("weekly", 0, 0, 1);
        assert_eq!(
            next_run(&sunday, ms("2026-03-14T23:59:00Z")),
            ms("2026-03-15T00:00:00Z")
        );
    }

    #[test]
    fn monthly_clamps_to_the_last_day() {
        let s = schedule("monthly", 3, 1, 31);
        assert_eq!(
            next_run(&s, ms("2026-01-31T03:00:00Z")),
            ms("2026-02-28T03:00:00Z")
        );
        assert_eq!(
            next_run(&s, ms("2028-02-01T00:00:00Z")),
            ms("2028-02-29T03:00:00Z")
        );
        assert_eq!(
            next_run(&s, ms("2026-04-01T00:00:00Z")),
            ms("2026-04-30T03:00:00Z")
        );
        let first = schedule("monthly", 3, 1, 1);
        assert_eq!(
            next_run(&first, ms("2026-12-01T03:00:00Z")),
            ms("2027-01-01T03:00:00Z")
        );
    }

    #[test]
    fn quarterly_runs_in_january_april_july_october() {
        let s = schedule("quarterly", 5, 1, 15);
        assert_eq!(
            next_run(&s, ms("2026-02-01T00:00:00Z")),
            ms("2026-04-15T05:00:00Z")
        );
        assert_eq!(
            next_run(&s, ms("2026-04-15T05:00:00Z")),
            ms("2026-07-15T05:00:00Z")
        );
        assert_eq!(
            next_run(&s, ms("2026-11-20T00:00:00Z")),
            ms("2027-01-15T05:00:00Z")
        );
        let end = schedule("quarterly", 0, 1, 31);
        assert_eq!(
            next_run(&end, ms("2026-03-01T00:00:00Z")),
            ms("2026-04-30T00:00:00Z")
        );
    }

    #[test]
    fn a_patch_sets_when_the_schedule_is_due() {
        let mut s = ScanSchedule::default_for(Uuid::nil(), Uuid::nil());
        let now = ms("2026-03-10T12:00:00Z");
        s.apply(
            &SchedulePatch {
                enabled: Some(true),
                period: Some("daily".into()),
                ..Default::default()
            },
            now,
        );
        assert_eq!(s.next_run, Some(ms("2026-03-11T03:00:00Z")));
        s.apply(
            &SchedulePatch {
                enabled: Some(false),
                ..Default::default()
            },
            now,
        );
        assert_eq!(s.next_run, None);
    }
}
