//! The files of a request in the console: upload from the request page's form, download,
//! delete. Each runs the Privacy API's own code for `POST …/files`, `GET …/files/{name}`
//! and `DELETE …/files/{name}` (§3.8, `routes::files`), with the roles that route checks:
//! viewers download, limited members and above upload and delete.
use super::org::{api_refusal, forbidden, refuse_write, Member};
use super::requests::{load, render_request_page};
use super::{internal, see_other, Browser};
use crate::routes::files::{self, Form, Upload};
use crate::AppState;
use accord_core::auth::Role;
use accord_core::compliance::Actor;
use accord_core::compliance::ComplianceRequest;
use accord_core::store::Project;
use accord_core::Error;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    let base = "/o/{org}/p/{project}/requests/{id}/files";
    Router::new()
        .route(base, post(upload).get(back))
        .route(&format!("{base}/{{name}}"), get(download))
        .route(&format!("{base}/{{name}}/delete"), post(delete).get(back))
}

/// The address of a form's answer, opened again (a reload, a bookmark): the request page.
async fn back(Path(p): Path<Vec<(String, String)>>) -> Response {
    let get = |k: &str| {
        p.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    match (
        get("org").parse::<Uuid>(),
        get("project").parse::<Uuid>(),
        get("id").parse::<Uuid>(),
    ) {
        (Ok(org), Ok(project), Ok(id)) => {
            see_other(&format!("/console/o/{org}/p/{project}/requests/{id}"))
        }
        _ => not_found(),
    }
}

fn not_found() -> Response {
    let mut res = (StatusCode::NOT_FOUND, "This file does not exist.").into_response();
    super::secure(res.headers_mut());
    res
}

async fn upload(
    State(state): State<AppState>,
    browser: Browser,
    Path((org, project, id)): Path<(Uuid, Uuid, Uuid)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if browser.session.is_none() {
        return see_other("/console/sign-in");
    }
    let (m, p, cr) = or_answer!(load(&state, &browser, org, project, id).await);
    if m.project_role(p.id) < Role::Limited {
        return forbidden();
    }
    if !crate::extract::is_multipart(&headers) {
        return Browser::forbidden();
    }
    let accept = |token: &str| browser.refuse_session(token).is_none();
    let done = files::upload_files(
        &state,
        Upload {
            org,
            project: Some(&p),
            id,
            actor: Actor {
                account_id: Some(m.who.key_id),
            },
            form: Form::Console { accept: &accept },
        },
        &headers,
        body,
    )
    .await;
    let before = cr.files.len();
    match done {
        Err(Error::Forbidden(_)) => Browser::forbidden(),
        Err(e) if e.status() >= 500 && e.status() != 503 => internal(e),
        done => {
            shown(&state, (m, p, cr), done, |updated| {
                match updated.files.len().saturating_sub(before) {
                    1 => "Uploaded 1 file.".to_string(),
                    n => format!("Uploaded {n} files."),
                }
            })
            .await
        }
    }
}

/// The request's page after a change to its files: `notice` over the changed request, or
/// the API's refusal next to the files over the request as it was.
async fn shown(
    state: &AppState,
    (m, p, cr): (Member, Project, ComplianceRequest),
    done: Result<ComplianceRequest, Error>,
    notice: impl FnOnce(&ComplianceRequest) -> String,
) -> Response {
    match done {
        Ok(updated) => {
            let notice = Some(notice(&updated));
            render_request_page(state, (m, p, updated), StatusCode::OK, (None, notice, None)).await
        }
        Err(e) => {
            let (status, message) = api_refusal(&e);
            render_request_page(state, (m, p, cr), status, (None, None, Some(message))).await
        }
    }
}

async fn download(
    State(state): State<AppState>,
    browser: Browser,
    Path((org, project, id, name)): Path<(Uuid, Uuid, Uuid, String)>,
) -> Response {
    let (m, _, cr) = or_answer!(load(&state, &browser, org, project, id).await);
    let actor = Actor {
        account_id: Some(m.who.key_id),
    };
    match files::download_file(&state, &cr, &name, actor).await {
        Ok(mut res) => {
            super::secure(res.headers_mut());
            res
        }
        Err(e) if e.status() == 404 => not_found(),
        Err(e) => internal(e),
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn delete(
    State(state): State<AppState>,
    browser: Browser,
    Path((org, project, id, name)): Path<(Uuid, Uuid, Uuid, String)>,
    axum::extract::Form(f): axum::extract::Form<CsrfForm>,
) -> Response {
    if let Some(r) = refuse_write(&browser, &f.csrf) {
        return r;
    }
    let (m, p, cr) = or_answer!(load(&state, &browser, org, project, id).await);
    if m.project_role(p.id) < Role::Limited {
        return forbidden();
    }
    let actor = Actor {
        account_id: Some(m.who.key_id),
    };
    match files::remove_file(&state, (org, p.id, cr.id), actor, name.clone()).await {
        Err(Error::Forbidden(_)) => forbidden(),
        Err(e) if e.status() >= 500 => internal(e),
        done => shown(&state, (m, p, cr), done, |_| format!("Deleted {name}.")).await,
    }
}
