//! `GET /privacy-v1/organizations/{organizationId}/records-of-processing`: the GDPR
//! Art. 30 record built from the active part of the data map, as JSON or CSV (§6.6).
use crate::error::ApiResult;
use crate::extract::{OrgScope, Viewer};
use crate::respond::ok;
use crate::AppState;
use accord_core::datamap::{self, Index, RecordOfProcessing, RopItem, RopOrganization};
use accord_core::query;
use accord_core::schema::published;
use accord_core::store::Organization;
use accord_core::time::{now_ms, to_rfc3339};
use accord_core::Error;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use uuid::Uuid;

const PATH: &str = "/organizations/{organizationId}/records-of-processing";

pub fn router() -> Router<AppState> {
    Router::new().route(PATH, get(get_record))
}

async fn get_record(
    State(state): State<AppState>,
    scope: OrgScope<Viewer>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    Ok(answer(&state, scope.org.clone(), raw.as_deref()).await?)
}

/// The record of processing of `org` for the query `raw` (§6.6): JSON, or the CSV file
/// with `format=csv`. The route answers it; the console's "Export CSV" link too.
pub async fn answer(
    state: &AppState,
    org: Organization,
    raw: Option<&str>,
) -> accord_core::Result<Response> {
    let q = query::parse(raw, datamap::rop_params())?;
    let items = items(state, &org, &q).await?;
    if q.str("format") == Some("csv") {
        let bytes = datamap::rop_csv(&items)?;
        let mut res = (StatusCode::OK, bytes).into_response();
        let h = res.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/csv; charset=utf-8"),
        );
        h.insert(
            header::CONTENT_DISPOSITION,
            HeaderValue::from_static("attachment; filename=\"records-of-processing.csv\""),
        );
        return Ok(res);
    }
    Ok(ok(RecordOfProcessing {
        organization: RopOrganization {
            id: org.id,
            name: org.name,
            primary_domain: org.primary_domain,
        },
        generated_at: to_rfc3339(now_ms()),
        items,
    })
    .into_response())
}

/// The items of the record of processing of `org` for the parsed query `q` (its
/// `projectIds`, 422 for one not of the organization).
pub async fn items(
    state: &AppState,
    org: &Organization,
    q: &query::Query,
) -> accord_core::Result<Vec<RopItem>> {
    let org_id = org.id;
    let projects: HashMap<Uuid, String> = state
        .store
        .list_projects(org_id)
        .await?
        .into_iter()
        .map(|p| (p.id, p.name))
        .collect();
    let only: Option<Vec<Uuid>> = q
        .list("projectIds")
        .map(|ids| {
            ids.iter()
                .enumerate()
                .map(|(i, s)| {
                    Uuid::parse_str(s)
                        .ok()
                        .filter(|id| projects.contains_key(id))
                        .ok_or_else(|| {
                            Error::unprocessable(format!(
                                "projectIds/{i} not found in this organization"
                            ))
                        })
                })
                .collect::<Result<Vec<Uuid>, Error>>()
        })
        .transpose()?;
    let map = state.store.data_map(org_id).await?;
    let idx = Index::new(&map);
    Ok(datamap::record_of_processing(
        &idx,
        &projects,
        only.as_deref(),
    ))
}

/// The OpenAPI path of the record, for the Privacy API document.
pub fn document(paths: &mut Map<String, Value>) {
    use crate::docs::{op, path_params, query_params};
    let mut params = path_params(&["organizationId"]);
    params.extend(query_params(datamap::rop_params()));
    let mut get = op(
        "Data Systems",
        "Record of processing activities (GDPR Art. 30), JSON or CSV",
        "The organization's record of processing activities under GDPR Art. 30 (Accord extension), built from its active data systems and attributes: JSON by default, or RFC 4180 CSV with `format=csv` (multiple values joined with `; `). Role: viewer or above.",
        params,
        None,
        200,
        published::<RecordOfProcessing>(),
        &[400, 401, 403, 422, 429, 500],
        true,
    );
    get["responses"]["200"]["content"]["text/csv"] = json!({"schema": {"type": "string"}});
    paths.insert(PATH.into(), json!({"get": get}));
}
