//! GCM scans (§8.4): checks of a page's Google Consent Mode set-up, their issue codes and
//! the published GcmScan.
use serde::Serialize;
use uuid::Uuid;

pub const DEFAULT_CONSENT_NOT_SET: &str = "default_consent_not_set";
pub const DEFAULT_CONSENT_TOO_LATE: &str = "default_consent_too_late";
pub const CONSENT_NOT_UPDATED: &str = "consent_not_updated";
pub const CONSENT_TAB_EMPTY: &str = "consent_tab_empty";
pub const ISSUE_CODES: &[&str] = &[
    DEFAULT_CONSENT_NOT_SET,
    DEFAULT_CONSENT_TOO_LATE,
    CONSENT_NOT_UPDATED,
    CONSENT_TAB_EMPTY,
];

/// One finding of a GCM check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct GcmIssue {
    /// What was found (§8.4): `default_consent_not_set` (the page has neither this
    /// project's site-client script nor an inline `gtag('consent','default'…)`),
    /// `default_consent_too_late` (a Google tag appears before the site client or the
    /// default call, or the site-client tag has `async`/`defer`), `consent_not_updated`
    /// (neither the site client nor an inline `gtag('consent','update'…)` is present) or
    /// `consent_tab_empty` (the page loads Google tags while the project's Default region has
    /// `gcm: "disabled"`).
    #[schemars(extend("enum" = ["default_consent_not_set", "default_consent_too_late", "consent_not_updated", "consent_tab_empty"]))]
    pub code: String,
    /// The finding in words, naming what was seen on the page.
    pub message: String,
}

impl GcmIssue {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        GcmIssue {
            code: code.into(),
            message: message.into(),
        }
    }
}

/// What the GCM checks of a project's pages need to know of the project.
#[derive(Debug, Clone, PartialEq)]
pub struct GcmContext {
    pub project_id: Uuid,
    /// The Default region's `settings.consent.gcm` is `disabled`.
    pub gcm_disabled: bool,
}

/// The path by which a page includes this project's site client (§5.8).
pub fn site_client_path(project_id: Uuid) -> String {
    format!("/site-v1/{project_id}/site-client")
}

pub const GCM_STATUSES: &[&str] = &["running", "completed", "failed"];
pub const GCM_SCAN_TYPES: &[&str] = &["domains", "custom"];
pub const GCM_SORTS: &[&str] = &["dateCreated"];

crate::body! {
    /// The body of `POST …/gcm-scans` (§8.4); no body scans every project domain.
    pub struct GcmScanBody {
        /// One http(s) URL (at most 2048 characters) to check instead of every domain of
        /// the project; the scan is then of type `custom`.
        url: Option<String> => "url": crate::schema::string().max(2048).format(crate::schema::Format::HttpUrl).s(),
    }
}

/// `POST …/gcm-scans`.
pub fn start_schema() -> &'static crate::schema::Schema {
    static S: std::sync::OnceLock<crate::schema::Schema> = std::sync::OnceLock::new();
    S.get_or_init(|| {
        crate::schema::Schema::Object(crate::schema::Object {
            props: GcmScanBody::props(),
            ..Default::default()
        })
    })
}

/// The checks of one page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct GcmPageResult {
    /// The page checked (after redirects).
    pub url: String,
    /// `true` when the page has no issue.
    pub passed: bool,
    /// The findings of the page, empty when it passed.
    pub issues: Vec<GcmIssue>,
}

impl GcmPageResult {
    pub fn new(url: &str, issues: Vec<GcmIssue>) -> Self {
        GcmPageResult {
            url: url.into(),
            passed: issues.is_empty(),
            issues,
        }
    }
}

/// A GCM scan (§8.4), stored and published as is.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct GcmScan {
    /// Id of the scan (UUID).
    pub id: Uuid,
    /// Organization of the project scanned.
    pub organization_id: Uuid,
    /// Project whose pages were scanned.
    pub project_id: Uuid,
    /// `domains` (every domain of the project) or `custom` (the one `url` of the request).
    #[schemars(extend("enum" = ["domains", "custom"]))]
    pub scan_type: String,
    /// The scanned URL, on custom scans only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `running` while pages are fetched and checked, then `completed`, or `failed` when a
    /// page could not be fetched (see `error`).
    #[schemars(extend("enum" = ["running", "completed", "failed"]))]
    pub status: String,
    /// When the scan started (epoch milliseconds).
    pub date_created: i64,
    /// When the scan ended (epoch milliseconds); absent while it runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_completed: Option<i64>,
    /// One entry per page checked.
    pub results: Vec<GcmPageResult>,
    /// Why the scan failed: the pages that could not be fetched, and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The filters of the GCM scan list.
#[derive(Debug, Clone, PartialEq)]
pub struct GcmScanFilter {
    pub project_id: Uuid,
    pub status: Option<Vec<String>>,
    pub scan_type: Option<Vec<String>>,
}

/// Ends a GCM scan with the outcome of each of its pages: `completed` with a result per
/// page when every page was checked, else `failed` with the checked pages' results and
/// an `error` naming each page that could not be fetched and why.
pub fn finish(
    scan: &mut GcmScan,
    outcomes: Vec<(String, std::result::Result<Vec<GcmIssue>, String>)>,
    now: i64,
) {
    let mut errors = Vec::new();
    for (url, outcome) in outcomes {
        match outcome {
            Ok(issues) => scan.results.push(GcmPageResult::new(&url, issues)),
            Err(e) => errors.push(e),
        }
    }
    scan.date_completed = Some(now);
    if errors.is_empty() {
        scan.status = "completed".into();
    } else {
        scan.status = "failed".into();
        scan.error = Some(errors.join("; "));
    }
}
