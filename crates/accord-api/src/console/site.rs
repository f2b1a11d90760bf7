//! The console's Site setup section of an organization.
use super::org::{Member, OrgNav};
use super::page;
use crate::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new().route("/o/{org}/site", get(index))
}

#[derive(Template)]
#[template(path = "console/site.html")]
struct IndexPage {
    nav: OrgNav,
}

async fn index(
    State(state): State<AppState>,
    browser: super::Browser,
    Path(org): Path<Uuid>,
) -> Response {
    let m = match Member::of(&state, &browser, org).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    page(StatusCode::OK, &IndexPage { nav: m.nav("site") })
}
