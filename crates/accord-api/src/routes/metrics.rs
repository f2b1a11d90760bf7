//! `GET /privacy-v1/organizations/{organizationId}/metrics` (§7.10): one item per project
//! and UTC calendar month overlapping `[startDate, endDate)`, computed from what is stored.
//! Only the items of the asked page are counted.
use crate::error::ApiResult;
use crate::extract::{OrgScope, Viewer};
use crate::respond::{ok, Json, Page};
use crate::AppState;
use accord_core::metrics::{self, MetricsItem};
use accord_core::query::{self, p, Kind, Param};
use accord_core::schema::published;
use accord_core::time::now_ms;
use accord_core::Error;
use axum::extract::{RawQuery, State};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Map, Value};
use std::sync::OnceLock;
use uuid::Uuid;

const PATH: &str = "/organizations/{organizationId}/metrics";

pub fn router() -> Router<AppState> {
    Router::new().route(PATH, get(list))
}

/// Query of the metrics list (§7.10): `startDate` and `endDate` are required.
pub fn list_params() -> &'static [Param] {
    static P: OnceLock<Vec<Param>> = OnceLock::new();
    P.get_or_init(|| {
        vec![
            p("startDate", Kind::Instant { epoch: false }).doc("Start of the period, inclusive (required): a date-time, or epoch milliseconds."),
            p("endDate", Kind::Instant { epoch: true }).doc("End of the period, exclusive (required): epoch milliseconds (the documented form), or a date-time. Must be after `startDate`."),
            p("project", Kind::UuidList).doc("Only these projects; repeat the key for several. Default: every project of the organization."),
            p(
                "offset",
                Kind::Int {
                    min: Some(0),
                    max: None,
                },
            )
            .doc("How many items to skip before the first one answered; default 0."),
            p(
                "limit",
                Kind::Int {
                    min: Some(1),
                    max: Some(1000),
                },
            )
            .doc("How many items to answer at most, 1 to 1000; default 100."),
        ]
    })
}

const REQUIRED: [&str; 2] = ["startDate", "endDate"];

async fn list(
    State(state): State<AppState>,
    scope: OrgScope<Viewer>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Page<MetricsItem>>> {
    let q = query::parse(raw.as_deref(), list_params())?;
    for name in REQUIRED {
        if q.date(name).is_none() {
            return Err(
                Error::bad(format!("querystring must have required property '{name}'")).into(),
            );
        }
    }
    let (start, end) = (
        q.date("startDate").unwrap_or_default(),
        q.date("endDate").unwrap_or_default(),
    );
    let org = scope.org.id;
    let mut projects: Vec<Uuid> = state
        .store
        .list_projects(org)
        .await?
        .iter()
        .map(|p| p.id)
        .collect();
    if let Some(wanted) = q.list("project") {
        let wanted: Vec<Uuid> = wanted.iter().filter_map(|w| w.parse().ok()).collect();
        // A project outside the organization is outside the caller's scope (§2.3).
        if wanted.iter().any(|w| !projects.contains(w)) {
            return Err(Error::forbidden().into());
        }
        projects.retain(|p| wanted.contains(p));
    }
    projects.sort_unstable();
    let page = query::Page {
        offset: q.int("offset").unwrap_or(0),
        limit: q.int("limit").unwrap_or(100),
        sort: "period".into(),
        desc: false,
    };
    let (first, months) = metrics::months(start, end);
    let per_month = projects.len() as i64;
    let total = months.saturating_mul(per_month);
    let from = page.offset.min(total);
    let to = page.offset.saturating_add(page.limit).min(total);
    let mut items = Vec::new();
    if from < to {
        // The months and projects the page covers, counted in one query per measure.
        let (m0, m1) = (from / per_month, (to - 1) / per_month);
        let bounds: Vec<i64> = (m0..=m1 + 1)
            .map(|m| metrics::month_start(first + m))
            .collect();
        let counts = state.store.month_counts(org, &projects, &bounds).await?;
        let now = now_ms();
        for i in from..to {
            let (m, pi) = (i / per_month, (i % per_month) as usize);
            let project = projects[pi];
            let k = (m - m0) as usize;
            let c = counts
                .get(&project)
                .and_then(|v| v.get(k))
                .cloned()
                .unwrap_or_default();
            items.push(MetricsItem::new(project, bounds[k], bounds[k + 1], now, &c));
        }
    }
    Ok(ok(Page::new(&page, total, items)))
}

/// The OpenAPI path of this resource, for the Privacy API document.
pub fn document(paths: &mut Map<String, Value>) {
    use crate::docs::{op, path_params, query_params};
    let mut params = path_params(&["organizationId"]);
    let mut query = query_params(list_params());
    for p in &mut query {
        if REQUIRED.iter().any(|r| p["name"] == *r) {
            p["required"] = json!(true);
        }
    }
    params.extend(query);
    let mut get = op(
        "Metrics",
        "Usage metrics",
        "Usage of the organization's projects per UTC calendar month. Role: viewer or above.",
        params,
        None,
        200,
        published::<Page<MetricsItem>>(),
        &[400, 401, 403, 404, 429, 500],
        true,
    );
    crate::docs::append_description(&mut get, json!("One item per project and UTC calendar month overlapping [startDate, endDate), ordered by period then project. `consentEvents.read` counts Site API reads of consent state and consent events; each server adds its reads to the stored count periodically (ACCORD_METRICS_FLUSH_INTERVAL)."));
    paths.insert(PATH.into(), json!({ "get": get }));
}
