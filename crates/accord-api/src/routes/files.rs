//! Files of a compliance request (§3.8): multipart upload, download and delete. Bytes go to
//! the object store under a key unique to each upload; the request row is updated in one
//! transaction afterwards, and bytes of an upload that fails are removed again.
use crate::error::ApiResult;
use crate::extract::{is_multipart, Limited, ProjectScope, Viewer};
use crate::respond::{created, ok, Json};
use crate::routes::compliance_requests::{include_params, render};
use crate::AppState;
use accord_core::compliance::wire::PrivacyComplianceRequest;
use accord_core::compliance::{
    self, file_key, Actor, IncomingFile, MAX_FILES_PER_UPLOAD, MAX_FILE_BYTES,
};
use accord_core::query::{self, Query};
use accord_core::time::now_ms;
use accord_core::usecases::compliance_requests as usecase;
use accord_core::Error;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use object_store::path::Path as ObjectPath;
use object_store::PutPayload;
use serde_json::json;

pub fn router() -> Router<AppState> {
    let base = "/organizations/{organizationId}/projects/{projectId}/compliance-requests/{complianceRequestId}/files";
    Router::new().route(base, post(upload)).route(
        &format!("{base}/{{fileName}}"),
        get(download).delete(remove),
    )
}

/// Whole-request ceiling for an upload: ten full files plus multipart overhead.
const UPLOAD_BODY_LIMIT: u64 = MAX_FILE_BYTES * MAX_FILES_PER_UPLOAD as u64 + 1024 * 1024;

struct Part {
    name: String,
    media_type: String,
    bytes: bytes::Bytes,
}

/// Reads and checks every part before anything is stored.
async fn read_parts(headers: &HeaderMap, body: Body) -> Result<Vec<Part>, Error> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let boundary = multer::parse_boundary(ct)
        .map_err(|_| Error::bad("body must be valid multipart/form-data"))?;
    let constraints = multer::Constraints::new()
        .size_limit(multer::SizeLimit::new().whole_stream(UPLOAD_BODY_LIMIT));
    let mut mp =
        multer::Multipart::with_constraints(body.into_data_stream(), boundary, constraints);
    let mut parts = Vec::new();
    loop {
        let field = match mp.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(multer::Error::StreamSizeExceeded { .. }) => {
                return Err(Error::PayloadTooLarge(format!(
                    "body exceeds the maximum size of {UPLOAD_BODY_LIMIT} bytes"
                )))
            }
            Err(_) => return Err(Error::bad("body must be valid multipart/form-data")),
        };
        let part_name = field.name().unwrap_or("").to_string();
        if part_name != "file" {
            return Err(Error::bad(format!(
                "body must NOT have additional properties: '{part_name}'"
            )));
        }
        if parts.len() == MAX_FILES_PER_UPLOAD {
            return Err(Error::bad(format!(
                "body/file must NOT have more than {MAX_FILES_PER_UPLOAD} items"
            )));
        }
        let Some(name) = field.file_name().map(str::to_string) else {
            return Err(Error::bad(
                "body/file must have required property 'fileName'",
            ));
        };
        compliance::check_file_name(&name)?;
        let media_type = field
            .content_type()
            .map(|m| m.essence_str().to_string())
            .unwrap_or_else(|| "application/octet-stream".into());
        let mut field = field;
        let mut buf = bytes::BytesMut::new();
        loop {
            match field.chunk().await {
                Ok(Some(chunk)) => {
                    if (buf.len() + chunk.len()) as u64 > MAX_FILE_BYTES {
                        return Err(Error::PayloadTooLarge(format!(
                            "file '{name}' exceeds the maximum size of {MAX_FILE_BYTES} bytes"
                        )));
                    }
                    buf.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(multer::Error::StreamSizeExceeded { .. }) => {
                    return Err(Error::PayloadTooLarge(format!(
                        "body exceeds the maximum size of {UPLOAD_BODY_LIMIT} bytes"
                    )))
                }
                Err(_) => return Err(Error::bad("body must be valid multipart/form-data")),
            }
        }
        if buf.is_empty() {
            return Err(Error::bad(format!("body/file '{name}' must NOT be empty")));
        }
        parts.push(Part {
            name,
            media_type,
            bytes: buf.freeze(),
        });
    }
    if parts.is_empty() {
        return Err(Error::bad("body must have required property 'file'"));
    }
    Ok(parts)
}

async fn upload(
    State(state): State<AppState>,
    scope: ProjectScope<Limited>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<PrivacyComplianceRequest>> {
    let org = scope.org;
    let pid = scope.project_id;
    let who = &scope.who;
    let id = scope.id("complianceRequestId")?;
    if !is_multipart(&headers) {
        return Err(
            Error::UnsupportedMediaType("Content-Type must be multipart/form-data".into()).into(),
        );
    }
    let q = query::parse(raw.as_deref(), &include_params())?;
    let parts = read_parts(&headers, body).await?;
    let project = scope.project()?;
    let current = state
        .store
        .get_compliance_request(org, pid, id)
        .await?
        .ok_or_else(Error::not_found)?;
    let names: Vec<&str> = parts.iter().map(|p| p.name.as_str()).collect();
    compliance::check_upload(&current, &names)?;

    let mut incoming = Vec::with_capacity(parts.len());
    for part in parts {
        let key = file_key(id, &part.name);
        let stored = state
            .files
            .put(
                &ObjectPath::from(key.as_str()),
                PutPayload::from_bytes(part.bytes.clone()),
            )
            .await;
        if let Err(e) = stored {
            discard(&state, &incoming).await;
            return Err(Error::internal(e).into());
        }
        incoming.push(IncomingFile {
            key,
            name: part.name,
            size: part.bytes.len() as i64,
            media_type: part.media_type,
        });
    }
    let keys: Vec<String> = incoming.iter().map(|f| f.key.clone()).collect();
    let days = project.purge_days_after_upload();
    let actor = Actor {
        account_id: Some(who.key_id),
    };
    let result = usecase::update(
        state.store.as_ref(),
        state.mail_wake.as_ref(),
        (org, pid, id),
        actor,
        move |cr| compliance::add_files(cr, &incoming, &actor, days, now_ms()),
    )
    .await;
    let updated = match result {
        Ok(Some(cr)) => cr,
        other => {
            for k in keys {
                let _ = state.files.delete(&ObjectPath::from(k.as_str())).await;
            }
            return Err(other
                .and_then(|o| o.ok_or_else(Error::not_found))
                .err()
                .unwrap_or_else(Error::not_found)
                .into());
        }
    };
    let item = render(&state, org, std::slice::from_ref(&updated), &q)
        .await?
        .remove(0);
    Ok(created(item))
}

async fn discard(state: &AppState, files: &[IncomingFile]) {
    for f in files {
        let _ = state.files.delete(&ObjectPath::from(f.key.as_str())).await;
    }
}

async fn download(
    State(state): State<AppState>,
    scope: ProjectScope<Viewer>,
) -> ApiResult<Response> {
    let org = scope.org;
    let pid = scope.project_id;
    let who = &scope.who;
    let id = scope.id("complianceRequestId")?;
    scope.project()?;
    let cr = state
        .store
        .get_compliance_request(org, pid, id)
        .await?
        .ok_or_else(Error::not_found)?;
    let name = scope.path.str("fileName");
    let file = cr
        .files
        .iter()
        .find(|f| f.name == name)
        .ok_or_else(Error::not_found)?;
    let bytes = stored_bytes(&state, &file.key).await?;
    let details = json!({"requestDownloadId": accord_core::ids::new_id(), "downloadedFilesCount": 1, "fileName": file.name});
    state
        .store
        .append_request_event(
            &cr,
            Actor {
                account_id: Some(who.key_id),
            },
            compliance::NewEvent {
                event: "files_downloaded",
                details,
            },
        )
        .await?;
    Ok(file_response(&file.name, &file.media_type, bytes))
}

/// The stored bytes of a file.
pub async fn stored_bytes(state: &AppState, key: &str) -> Result<bytes::Bytes, Error> {
    state
        .files
        .get(&ObjectPath::from(key))
        .await
        .map_err(Error::internal)?
        .bytes()
        .await
        .map_err(Error::internal)
}

/// The download response of §3.8.
pub fn file_response(name: &str, media_type: &str, bytes: bytes::Bytes) -> Response {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let disposition = format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{}",
        compliance::percent_encode(name)
    );
    let mut res = (StatusCode::OK, bytes.clone()).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(media_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    res
}

async fn remove(
    State(state): State<AppState>,
    scope: ProjectScope<Limited>,
) -> ApiResult<Json<PrivacyComplianceRequest>> {
    let org = scope.org;
    let pid = scope.project_id;
    let who = &scope.who;
    let id = scope.id("complianceRequestId")?;
    scope.project()?;
    let name = scope.path.str("fileName").to_string();
    let removed = std::sync::Arc::new(std::sync::Mutex::new(None));
    let slot = removed.clone();
    let updated = usecase::update(
        state.store.as_ref(),
        state.mail_wake.as_ref(),
        (org, pid, id),
        Actor {
            account_id: Some(who.key_id),
        },
        move |cr| {
            let (file, events) = compliance::remove_file(cr, &name, now_ms())?;
            *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(file);
            Ok(events)
        },
    )
    .await?
    .ok_or_else(Error::not_found)?;
    let file = removed.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(f) = file {
        if let Err(e) = state.files.delete(&ObjectPath::from(f.key.as_str())).await {
            tracing::warn!(error = %e, key = %f.key, "could not delete file bytes");
        }
    }
    let item = render(
        &state,
        org,
        std::slice::from_ref(&updated),
        &Query::default(),
    )
    .await?
    .remove(0);
    Ok(ok(item))
}
