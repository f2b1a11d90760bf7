//! The console's Data map section of an organization.
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
    Router::new().route("/o/{org}/data-map", get(index))
}

#[derive(Template)]
#[template(path = "console/datamap.html")]
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
    page(
        StatusCode::OK,
        &IndexPage {
            nav: m.nav("data-map"),
        },
    )
}
