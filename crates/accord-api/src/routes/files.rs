//! Files of a compliance request (§3.8): multipart upload, download and delete. Each part
//! streams to the object store as it arrives, under a key of its own, so that an upload
//! holds only its part buffers (two parts of `upload_part_bytes`, counted in the body
//! memory budget); downloads stream back the same way. The request row is updated in one
//! transaction once every part is stored, and the bytes of an upload that fails, or whose
//! client goes away, are removed again.
use crate::budget::{over_budget, BUSY};
use crate::error::ApiResult;
use crate::extract::{is_multipart, timed_out, Limited, ProjectScope, Viewer};
use crate::multipart::{self, Recent, MALFORMED};
use crate::respond::{created, ok, Json};
use crate::routes::compliance_requests::{include_params, render};
use crate::AppState;
use accord_core::compliance::wire::PrivacyComplianceRequest;
use accord_core::compliance::{
    self, file_key, Actor, ComplianceRequest, IncomingFile, MAX_FILES_PER_UPLOAD, MAX_FILE_BYTES,
};
use accord_core::query::{self, Query};
use accord_core::store::Project;
use accord_core::time::now_ms;
use accord_core::usecases::compliance_requests as usecase;
use accord_core::Error;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutPayload, WriteMultipart};
use serde_json::json;
use std::sync::Arc;
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    let base = "/organizations/{organizationId}/projects/{projectId}/compliance-requests/{complianceRequestId}/files";
    Router::new().route(base, post(upload)).route(
        &format!("{base}/{{fileName}}"),
        // A download records an event: it reads its key and project afresh, as writes do.
        get(download)
            .delete(remove)
            .route_layer(axum::Extension(crate::extract::Fresh)),
    )
}

/// Whole-request ceiling for an upload: ten full files plus multipart overhead.
const UPLOAD_BODY_LIMIT: u64 = MAX_FILE_BYTES * MAX_FILES_PER_UPLOAD as u64 + 1024 * 1024;

async fn upload(
    State(state): State<AppState>,
    scope: ProjectScope<Limited>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<PrivacyComplianceRequest>> {
    let id = scope.id("complianceRequestId")?;
    if !is_multipart(&headers) {
        return Err(
            Error::UnsupportedMediaType("Content-Type must be multipart/form-data".into()).into(),
        );
    }
    let q = query::parse(raw.as_deref(), &include_params())?;
    let actor = Actor {
        account_id: Some(scope.who.key_id),
    };
    let updated = upload_files(
        &state,
        Upload {
            org: scope.org,
            project: scope.project().ok(),
            id,
            actor,
            form: Form::Api,
        },
        &headers,
        body,
    )
    .await?;
    let item = render(&state, scope.org, std::slice::from_ref(&updated), &q)
        .await?
        .remove(0);
    Ok(created(item))
}

/// Who sends an upload's multipart body.
pub enum Form<'a> {
    /// The Privacy API (§3.8): `file` parts only.
    Api,
    /// The console's upload form: its token (`csrf`) comes before the files and must be
    /// accepted by `accept` before any byte is stored; a file input left empty (a part
    /// without name or bytes) is no file.
    Console {
        accept: &'a (dyn Fn(&str) -> bool + Send + Sync),
    },
}

/// One upload to a request: where, by whom, and from which form.
pub struct Upload<'a> {
    pub org: Uuid,
    /// The request's project; `None` when it does not exist (404 once the body is read).
    pub project: Option<&'a Project>,
    pub id: Uuid,
    pub actor: Actor,
    pub form: Form<'a>,
}

/// Stores the files of a multipart body and records them on the request (§3.8), for the
/// Privacy API and the console alike. Nothing is kept when any part or the request's
/// rules refuse the upload: the bytes already stored are deleted again.
pub async fn upload_files(
    state: &AppState,
    upload: Upload<'_>,
    headers: &HeaderMap,
    body: Body,
) -> Result<ComplianceRequest, Error> {
    let mut stored = Stored::new(state.files.clone());
    match store_and_record(state, &upload, headers, body, &mut stored).await {
        Ok(cr) => {
            stored.keep();
            Ok(cr)
        }
        Err(e) => {
            stored.discard().await;
            Err(e)
        }
    }
}

/// Stores every part, then records the files on the request (§1.5: the body is checked
/// before the request's existence and state).
async fn store_and_record(
    state: &AppState,
    upload: &Upload<'_>,
    headers: &HeaderMap,
    body: Body,
    stored: &mut Stored,
) -> Result<ComplianceRequest, Error> {
    let id = upload.id;
    let incoming = store_parts(state, id, headers, body, stored, &upload.form).await?;
    let project = upload.project.ok_or_else(Error::not_found)?;
    // The request's state and file names are checked on the locked row (`add_files`).
    let days = project.purge_days_after_upload();
    let actor = upload.actor;
    usecase::update(
        state.store.as_ref(),
        state.mail_wake.as_ref(),
        (upload.org, project.id, id),
        actor,
        move |cr| compliance::add_files(cr, &incoming, &actor, days, now_ms()),
    )
    .await?
    .ok_or_else(Error::not_found)
}

/// The bytes this upload has stored so far. They are removed unless the upload is
/// recorded: by [`Stored::discard`] on an error, or in the background when the request
/// is dropped half-way (its client went away).
struct Stored {
    files: Arc<dyn ObjectStore>,
    keys: Vec<String>,
}

impl Stored {
    fn new(files: Arc<dyn ObjectStore>) -> Stored {
        Stored {
            files,
            keys: Vec::new(),
        }
    }

    fn keep(&mut self) {
        self.keys.clear();
    }

    async fn discard(&mut self) {
        delete_all(&self.files, std::mem::take(&mut self.keys)).await;
    }
}

impl Drop for Stored {
    fn drop(&mut self) {
        if self.keys.is_empty() {
            return;
        }
        let (files, keys) = (self.files.clone(), std::mem::take(&mut self.keys));
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { delete_all(&files, keys).await });
        }
    }
}

/// Deletes stored bytes; a key that was never written is no error.
async fn delete_all(files: &Arc<dyn ObjectStore>, keys: Vec<String>) {
    for key in keys {
        match files.delete(&ObjectPath::from(key.as_str())).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => tracing::warn!(error = %e, key = %key, "could not delete file bytes"),
        }
    }
}

/// Reads the parts in order, checking each (§3.8) and streaming its bytes to the object
/// store before the next one is read.
async fn store_parts(
    state: &AppState,
    request: Uuid,
    headers: &HeaderMap,
    body: Body,
    stored: &mut Stored,
    form: &Form<'_>,
) -> Result<Vec<IncomingFile>, Error> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let boundary = multer::parse_boundary(ct).map_err(|_| Error::bad(MALFORMED))?;
    let recent = Recent::default();
    let seen = recent.clone();
    let body = Body::new(body.map_frame(move |frame| {
        if let Some(data) = frame.data_ref() {
            seen.saw(data);
        }
        frame
    }));
    let constraints = multer::Constraints::new()
        .size_limit(multer::SizeLimit::new().whole_stream(UPLOAD_BODY_LIMIT));
    let mut mp =
        multer::Multipart::with_constraints(body.into_data_stream(), &boundary, constraints);
    let reading = Reading {
        recent: &recent,
        boundary: &boundary,
    };
    let mut files = Vec::new();
    let mut accepted = matches!(form, Form::Api);
    loop {
        let mut field = match mp.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return Err(reading.error(e)),
        };
        let part_name = field.name().unwrap_or("").to_string();
        if let Form::Console { accept } = form {
            if part_name == "csrf" && !accepted {
                let mut token = Vec::new();
                while let Some(chunk) = field.chunk().await.map_err(|e| reading.error(e))? {
                    token.extend_from_slice(&chunk);
                    if token.len() > 256 {
                        break;
                    }
                }
                accepted = accept(std::str::from_utf8(&token).unwrap_or(""));
                if !accepted {
                    return Err(Error::forbidden());
                }
                continue;
            }
            if !accepted {
                return Err(Error::forbidden());
            }
        }
        if part_name != "file" {
            return Err(Error::bad(format!(
                "body must NOT have additional properties: '{part_name}'"
            )));
        }
        if files.len() == MAX_FILES_PER_UPLOAD {
            return Err(Error::bad(format!(
                "body/file must NOT have more than {MAX_FILES_PER_UPLOAD} items"
            )));
        }
        let disposition = field
            .headers()
            .get(header::CONTENT_DISPOSITION)
            .map_or(&b""[..], |v| v.as_bytes());
        let name = multipart::file_name(disposition)?;
        if matches!(form, Form::Console { .. }) && name.as_deref().is_none_or(str::is_empty) {
            // A file input left empty sends a part without a name.
            let mut empty = true;
            while let Some(chunk) = field.chunk().await.map_err(|e| reading.error(e))? {
                empty &= chunk.is_empty();
            }
            if empty {
                continue;
            }
        }
        let Some(name) = name else {
            return Err(Error::bad(
                "body/file must have required property 'fileName'",
            ));
        };
        compliance::check_file_name(&name)?;
        let media_type = field
            .content_type()
            .map(|m| m.essence_str().to_string())
            .unwrap_or_else(|| "application/octet-stream".into());
        let key = file_key(request);
        stored.keys.push(key.clone());
        let part = Part {
            field: &mut field,
            name: &name,
            size: 0,
            reading: &reading,
        };
        let size = part
            .store(&state.files, &key, state.config.upload_part_bytes)
            .await?;
        files.push(IncomingFile {
            key,
            name,
            size,
            media_type,
        });
    }
    if files.is_empty() {
        return Err(Error::bad("body must have required property 'file'"));
    }
    Ok(files)
}

/// What a failed read of the multipart body means.
struct Reading<'a> {
    recent: &'a Recent,
    boundary: &'a str,
}

impl Reading<'_> {
    fn error(&self, e: multer::Error) -> Error {
        match e {
            multer::Error::StreamSizeExceeded { .. } => Error::PayloadTooLarge(format!(
                "body exceeds the maximum size of {UPLOAD_BODY_LIMIT} bytes"
            )),
            multer::Error::ReadHeaderFailed(_)
            | multer::Error::DecodeHeaderName { .. }
            | multer::Error::DecodeHeaderValue { .. } => self.recent.refused_headers(self.boundary),
            e if over_budget(&e) => Error::Unavailable(BUSY.into()),
            e if timed_out(&e) => Error::RequestTimeout("body was not received in time".into()),
            _ => Error::bad(MALFORMED),
        }
    }
}

/// One file part being stored.
struct Part<'a, 'r> {
    field: &'a mut multer::Field<'r>,
    name: &'a str,
    size: u64,
    reading: &'a Reading<'a>,
}

impl Part<'_, '_> {
    /// The next chunk of the file; 413 once it passes the file size limit (§1.6).
    async fn chunk(&mut self) -> Result<Option<Bytes>, Error> {
        match self.field.chunk().await {
            Ok(Some(chunk)) => {
                self.size += chunk.len() as u64;
                if self.size > MAX_FILE_BYTES {
                    return Err(Error::PayloadTooLarge(format!(
                        "file '{}' exceeds the maximum size of {MAX_FILE_BYTES} bytes",
                        self.name
                    )));
                }
                Ok(Some(chunk))
            }
            Ok(None) => Ok(None),
            Err(e) => Err(self.reading.error(e)),
        }
    }

    /// Writes the file to `key` and returns its size: in one put when it fits one part,
    /// else as a multipart upload with at most one part in flight besides the one filling.
    async fn store(
        mut self,
        files: &Arc<dyn ObjectStore>,
        key: &str,
        part_bytes: usize,
    ) -> Result<i64, Error> {
        let path = ObjectPath::from(key);
        let mut first = BytesMut::new();
        while first.len() < part_bytes {
            match self.chunk().await? {
                Some(chunk) => first.extend_from_slice(&chunk),
                None => {
                    files
                        .put(&path, PutPayload::from_bytes(first.freeze()))
                        .await
                        .map_err(Error::internal)?;
                    return Ok(self.size as i64);
                }
            }
        }
        let upload = files.put_multipart(&path).await.map_err(Error::internal)?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, part_bytes);
        writer.write(&first);
        drop(first);
        let pumped = async {
            while let Some(chunk) = self.chunk().await? {
                writer.wait_for_capacity(1).await.map_err(Error::internal)?;
                writer.write(&chunk);
            }
            Ok::<_, Error>(())
        }
        .await;
        match pumped {
            Ok(()) => {
                writer.finish().await.map_err(Error::internal)?;
                Ok(self.size as i64)
            }
            Err(e) => {
                let _ = writer.abort().await;
                Err(e)
            }
        }
    }
}

async fn download(
    State(state): State<AppState>,
    scope: ProjectScope<Viewer>,
) -> ApiResult<Response> {
    let id = scope.id("complianceRequestId")?;
    scope.project()?;
    let cr = state
        .store
        .get_compliance_request(scope.org, scope.project_id, id)
        .await?
        .ok_or_else(Error::not_found)?;
    let actor = Actor {
        account_id: Some(scope.who.key_id),
    };
    Ok(download_file(&state, &cr, scope.path.str("fileName"), actor).await?)
}

/// The download of the request's file `name` by a member of the privacy team (§3.8), with
/// its `files_downloaded` event; 404 for a name the request has not.
pub async fn download_file(
    state: &AppState,
    cr: &ComplianceRequest,
    name: &str,
    actor: Actor,
) -> Result<Response, Error> {
    let file = cr
        .files
        .iter()
        .find(|f| f.name == name)
        .ok_or_else(Error::not_found)?;
    let (bytes, size) = stored_file(state, &file.key).await?;
    let details = json!({"requestDownloadId": accord_core::ids::new_id(), "downloadedFilesCount": 1, "fileName": file.name});
    state
        .store
        .append_request_event(
            cr,
            actor,
            compliance::NewEvent {
                event: "files_downloaded",
                details,
            },
        )
        .await?;
    Ok(file_response(&file.name, &file.media_type, bytes, size))
}

/// The stored bytes of a file as a stream, and their length: a download holds no more than
/// a read buffer of it.
pub async fn stored_file(state: &AppState, key: &str) -> Result<(Body, u64), Error> {
    let got = state
        .files
        .get(&ObjectPath::from(key))
        .await
        .map_err(Error::internal)?;
    let size = got.meta.size as u64;
    Ok((Body::from_stream(got.into_stream()), size))
}

/// The download response of §3.8.
pub fn file_response(name: &str, media_type: &str, bytes: Body, size: u64) -> Response {
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
    let mut res = (StatusCode::OK, bytes).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(media_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
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
    let id = scope.id("complianceRequestId")?;
    scope.project()?;
    let actor = Actor {
        account_id: Some(scope.who.key_id),
    };
    let name = scope.path.str("fileName").to_string();
    let updated = remove_file(&state, (org, scope.project_id, id), actor, name).await?;
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

/// Removes the request's file `name` and then its bytes (§3.8), for the Privacy API and
/// the console alike.
pub async fn remove_file(
    state: &AppState,
    request: (Uuid, Uuid, Uuid),
    actor: Actor,
    name: String,
) -> Result<ComplianceRequest, Error> {
    let removed = std::sync::Arc::new(std::sync::Mutex::new(None));
    let slot = removed.clone();
    let updated = usecase::update(
        state.store.as_ref(),
        state.mail_wake.as_ref(),
        request,
        actor,
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
    Ok(updated)
}
