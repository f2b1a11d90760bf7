//! The team's emails of an organization, turned on or off by each signed-in User for
//! themselves (`/console/o/{org}/settings/notifications`): new verified requests and the
//! daily due-date digest of the projects they can read (`accord_core::notifications`).
//! A console setting only: the Users of the Privacy API (§7.5) do not show it.
use super::org::{Member, OrgNav};
use super::{internal, page, Browser};
use crate::AppState;
use accord_core::auth::Role;
use accord_core::time::now_ms;
use askama::Template;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new().route("/o/{org}/settings/notifications", get(show).post(save))
}

#[derive(Template)]
#[template(path = "console/notifications.html")]
struct NotificationsPage {
    nav: OrgNav,
    on: bool,
    notice: Option<String>,
}

async fn render(state: &AppState, m: Member, notice: Option<String>) -> Response {
    let on = match state.store.team_optins(m.org.id).await {
        Ok(ids) => ids.contains(&m.who.key_id),
        Err(e) => return internal(e),
    };
    page(
        StatusCode::OK,
        &NotificationsPage {
            nav: m.nav("settings"),
            on,
            notice,
        },
    )
}

async fn show(State(state): State<AppState>, browser: Browser, Path(org): Path<Uuid>) -> Response {
    match Member::of(&state, &browser, org).await {
        Ok(m) => render(&state, m, None).await,
        Err(r) => r,
    }
}

#[derive(Deserialize)]
struct NotificationsForm {
    #[serde(default)]
    csrf: String,
    /// Present (`on`) when the box is ticked.
    #[serde(default)]
    team_emails: Option<String>,
}

async fn save(
    State(state): State<AppState>,
    browser: Browser,
    Path(org): Path<Uuid>,
    Form(f): Form<NotificationsForm>,
) -> Response {
    let m = or_answer!(Member::writing(&state, &browser, org, &f.csrf, Role::None).await);
    let on = f.team_emails.is_some();
    if let Err(e) = state
        .store
        .set_team_optin(m.org.id, m.who.key_id, on, now_ms())
        .await
    {
        return internal(e);
    }
    let notice = if on {
        "Saved: you get the team's emails."
    } else {
        "Saved: you get no team emails."
    };
    render(&state, m, Some(notice.to_string())).await
}
