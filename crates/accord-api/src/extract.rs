//! Turning a request into validated inputs, in the precedence order of §1.5: credentials,
//! rate limit, path parameters, scope, body size and media type, then body and query rules.
use crate::error::ApiResult;
use crate::AppState;
use accord_core::auth::{digest, Principal, Role};
use accord_core::schema::Schema;
use accord_core::store::{Organization, Project};
use accord_core::{Error, Result};
use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;
use serde_json::Value;
use uuid::Uuid;

/// Largest JSON body on the Privacy API.
pub const PRIVACY_BODY_LIMIT: usize = 16 * 1024 * 1024;

/// The authenticated caller, after the rate limit.
pub struct Auth(pub Principal);

impl FromRequestParts<AppState> for Auth {
    type Rejection = crate::error::ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let Some(raw) = parts.headers.get("x-api-key") else {
            return Err(Error::Unauthorized("Missing x-api-key header".into()).into());
        };
        let invalid = || Error::Unauthorized("Invalid API key".into());
        let value = raw.to_str().map_err(|_| invalid())?.trim();
        if value.is_empty() || value.chars().count() > 512 {
            return Err(invalid().into());
        }
        let key = digest(value);
        let principal = if reads_only(parts) {
            state.store.principal_for_read(&key).await?
        } else {
            state.store.principal_by_digest(&key).await?
        }
        .ok_or_else(invalid)?;
        state
            .limiter
            .check(&principal.key_id.to_string())
            .map_err(Error::TooManyRequests)?;
        Ok(Auth(principal))
    }
}

/// A call that writes nothing (`GET`, `HEAD`): its caller and project may come from the
/// store's short read caches. A call that writes reads both afresh, so a key revoked or a
/// project changed on another server is never acted on by a write.
fn reads_only(parts: &Parts) -> bool {
    (parts.method == axum::http::Method::GET || parts.method == axum::http::Method::HEAD)
        && parts.extensions.get::<Fresh>().is_none()
}

/// Marks a route whose `GET` writes (a download records an event): its caller and project
/// are read afresh, as a write's are.
#[derive(Clone, Copy)]
pub struct Fresh;

/// Raw path parameters in path order; validated by [`PathParams::uuid`] after
/// authentication.
pub struct PathParams(pub Vec<(String, String)>);

impl FromRequestParts<AppState> for PathParams {
    type Rejection = crate::error::ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let Path(params) = Path::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(|_| Error::bad("params must be valid"))?;
        Ok(PathParams(params))
    }
}

impl PathParams {
    pub fn uuid(&self, name: &str) -> Result<Uuid> {
        accord_core::ids::parse_uuid(self.str(name), &format!("params/{name}"))
    }
    pub fn str(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }
    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }
    /// Validates every `…Id` parameter as a uuid, in path order (§1.5 step 4).
    pub fn validate_ids(&self) -> Result<()> {
        for (name, _) in self.0.iter().filter(|(k, _)| k.ends_with("Id")) {
            self.uuid(name)?;
        }
        Ok(())
    }
}

/// §1.5 steps 2–4 shared by the scope extractors: credentials and rate limit, then every
/// id of the path.
async fn caller_and_ids(parts: &mut Parts, state: &AppState) -> ApiResult<(Principal, PathParams)> {
    let Auth(who) = Auth::from_request_parts(parts, state).await?;
    let path = PathParams::from_request_parts(parts, state).await?;
    path.validate_ids()?;
    Ok((who, path))
}

/// The role a handler requires, as a type: `ProjectScope<Admin>`.
pub trait MinRole: Send + Sync + 'static {
    const ROLE: Role;
}
pub struct Viewer;
pub struct Limited;
pub struct Admin;
pub struct Owner;
impl MinRole for Viewer {
    const ROLE: Role = Role::Viewer;
}
impl MinRole for Limited {
    const ROLE: Role = Role::Limited;
}
impl MinRole for Admin {
    const ROLE: Role = Role::Admin;
}
impl MinRole for Owner {
    const ROLE: Role = Role::Owner;
}

/// A request under `/organizations/{organizationId}/projects/{projectId}` after §1.5 steps
/// 2–5: credentials, rate limit, every id of the path, and a role of at least `R` on the
/// project (on the organization when the project does not exist). The project itself is
/// answered 404 only when asked for, after the body and query are validated (step 8).
pub struct ProjectScope<R> {
    pub who: Principal,
    pub org: Uuid,
    pub project_id: Uuid,
    pub path: PathParams,
    project: Option<Project>,
    role: std::marker::PhantomData<R>,
}

impl<R: MinRole> FromRequestParts<AppState> for ProjectScope<R> {
    type Rejection = crate::error::ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let (who, path) = caller_and_ids(parts, state).await?;
        let org = path.uuid("organizationId")?;
        let project_id = path.uuid("projectId")?;
        let project =
            project_scope(state, &who, org, project_id, R::ROLE, reads_only(parts)).await?;
        Ok(ProjectScope {
            who,
            org,
            project_id,
            path,
            project,
            role: std::marker::PhantomData,
        })
    }
}

impl<R> ProjectScope<R> {
    /// The addressed project, or 404.
    pub fn project(&self) -> Result<&Project> {
        self.project.as_ref().ok_or_else(Error::not_found)
    }
    /// An id of the path (already validated by the extractor).
    pub fn id(&self, name: &str) -> Result<Uuid> {
        self.path.uuid(name)
    }
}

/// A request under `/organizations/{organizationId}` after §1.5 steps 2–5, with an
/// organization-level role of at least `R` (an organization that does not exist is 403).
pub struct OrgScope<R> {
    pub who: Principal,
    pub org: Organization,
    pub path: PathParams,
    role: std::marker::PhantomData<R>,
}

impl<R: MinRole> FromRequestParts<AppState> for OrgScope<R> {
    type Rejection = crate::error::ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let (who, path) = caller_and_ids(parts, state).await?;
        let org = org_scope(state, &who, path.uuid("organizationId")?, R::ROLE).await?;
        Ok(OrgScope {
            who,
            org,
            path,
            role: std::marker::PhantomData,
        })
    }
}

impl<R> OrgScope<R> {
    /// An id of the path (already validated by the extractor).
    pub fn id(&self, name: &str) -> Result<Uuid> {
        self.path.uuid(name)
    }
}

/// An aggregating list under `/organizations/{organizationId}` (§2.3): the projects of the
/// organization on which the caller's effective role is at least viewer; 403 when there
/// are none and the organization-level role is `none`.
pub struct Readable {
    pub who: Principal,
    pub org: Uuid,
    pub projects: Vec<Uuid>,
}

impl FromRequestParts<AppState> for Readable {
    type Rejection = crate::error::ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let (who, path) = caller_and_ids(parts, state).await?;
        let org = path.uuid("organizationId")?;
        let projects = readable_projects(state, &who, org).await?;
        Ok(Readable { who, org, projects })
    }
}

/// Basic organization access (§2.3): any role of at least viewer in the organization or in
/// one of its projects. Carries the organization and all its projects.
pub struct BasicAccess {
    pub who: Principal,
    pub org: Organization,
    pub projects: Vec<Project>,
}

impl FromRequestParts<AppState> for BasicAccess {
    type Rejection = crate::error::ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let (who, path) = caller_and_ids(parts, state).await?;
        let (org, projects) = basic_access(state, &who, path.uuid("organizationId")?).await?;
        Ok(BasicAccess { who, org, projects })
    }
}

/// A JSON body of the Privacy API after §1.5 step 6 (size, media type) and parsing; its
/// schema is checked by the handler, after the query (step 7).
pub struct JsonBody(pub Value);

impl FromRequest<AppState> for JsonBody {
    type Rejection = crate::error::ApiError;

    async fn from_request(req: axum::extract::Request, _: &AppState) -> ApiResult<Self> {
        let (parts, body) = req.into_parts();
        Ok(JsonBody(
            read_json(&parts.headers, body, PRIVACY_BODY_LIMIT).await?,
        ))
    }
}

/// The bytes of a JSON body of at most [`PRIVACY_BODY_LIMIT`], unparsed (see
/// [`read_json_bytes`]).
pub struct JsonBytes(pub bytes::Bytes);

impl FromRequest<AppState> for JsonBytes {
    type Rejection = crate::error::ApiError;

    async fn from_request(req: axum::extract::Request, _: &AppState) -> ApiResult<Self> {
        let (parts, body) = req.into_parts();
        Ok(JsonBytes(
            read_json_bytes(&parts.headers, body, PRIVACY_BODY_LIMIT).await?,
        ))
    }
}

/// [`JsonBody`] with the text it was parsed from, for the fields kept as written
/// (`requestDetails`, §3.2).
pub struct JsonBodyText(pub Value, pub bytes::Bytes);

impl FromRequest<AppState> for JsonBodyText {
    type Rejection = crate::error::ApiError;

    async fn from_request(req: axum::extract::Request, _: &AppState) -> ApiResult<Self> {
        let (parts, body) = req.into_parts();
        let (value, text) = read_json_text(&parts.headers, body, PRIVACY_BODY_LIMIT).await?;
        Ok(JsonBodyText(value, text))
    }
}

/// Loads the project addressed by the path and checks the caller's role on it (§1.5 step 5).
/// Returns `None` for a project that does not exist, which the caller answers with 404
/// after validating the rest of the request.
pub async fn project_scope(
    state: &AppState,
    who: &Principal,
    org: Uuid,
    project: Uuid,
    min: Role,
    read: bool,
) -> Result<Option<Project>> {
    let p = if read {
        state.store.project_for_read(org, project).await?
    } else {
        state.store.get_project(org, project).await?
    };
    let role = match &p {
        Some(_) => who.project_role(org, project),
        None => who.org_role(org),
    };
    // A project row implies its organization exists; only a miss needs the second look-up.
    if role < min || (p.is_none() && state.store.get_organization(org).await?.is_none()) {
        return Err(Error::forbidden());
    }
    Ok(p)
}

/// The projects of `projects` (all of `org`) the caller can read: at least viewer (§2.3).
/// The aggregating lists and the console's pages keep the same ones.
pub fn readable(who: &Principal, org: Uuid, projects: Vec<Project>) -> Vec<Project> {
    projects
        .into_iter()
        .filter(|p| who.project_role(org, p.id) >= Role::Viewer)
        .collect()
}

/// The projects of `org` the caller can read, for the aggregating lists (§2.3).
pub async fn readable_projects(state: &AppState, who: &Principal, org: Uuid) -> Result<Vec<Uuid>> {
    if state.store.get_organization(org).await?.is_none() {
        return Err(Error::forbidden());
    }
    let projects = state.store.list_projects(org).await?;
    let readable: Vec<Uuid> = readable(who, org, projects)
        .into_iter()
        .map(|p| p.id)
        .collect();
    if readable.is_empty() && who.org_role(org) == Role::None {
        return Err(Error::forbidden());
    }
    Ok(readable)
}

fn media_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
}

/// Reads the whole body, answering 413 past `limit` bytes.
pub async fn read_limited(body: Body, limit: usize) -> Result<bytes::Bytes> {
    let too_large =
        || Error::PayloadTooLarge(format!("body exceeds the maximum size of {limit} bytes"));
    let limited = http_body_util::Limited::new(body, limit);
    match limited.collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(e) if crate::budget::over_budget(e.as_ref()) => {
            Err(Error::Unavailable(crate::budget::BUSY.into()))
        }
        Err(e) if crate::budget::too_many_values(e.as_ref()) => Err(Error::PayloadTooLarge(
            crate::budget::TooManyValues.to_string(),
        )),
        Err(e) if timed_out(e.as_ref()) => Err(Error::RequestTimeout(
            "body was not received in time".into(),
        )),
        Err(e) => Err(Error::bad(format!("body could not be read: {e}"))),
    }
}

/// True when reading a body failed because the client paused longer than the body
/// timeout.
pub fn timed_out(e: &(dyn std::error::Error + 'static)) -> bool {
    std::iter::successors(Some(e), |e| e.source())
        .any(|e| e.is::<tower_http::timeout::TimeoutError>())
}

/// Reads and discards (a bounded amount of) a refused body, so that a client still sending
/// it receives the error response rather than a reset connection.
pub async fn drain(body: Body) {
    drain_within(body, std::time::Duration::from_secs(5)).await;
}

/// [`drain`] for at most `within`. The byte bound covers the largest body any route
/// accepts (an upload of ten full files).
pub async fn drain_within(mut body: Body, within: std::time::Duration) {
    use http_body_util::BodyExt;
    const CAP: usize = 128 * 1024 * 1024;
    let read = async {
        let mut seen = 0usize;
        while seen <= CAP {
            match body.frame().await {
                Some(Ok(frame)) => seen += frame.data_ref().map_or(0, |d| d.len()),
                _ => break,
            }
        }
    };
    let _ = tokio::time::timeout(within, read).await;
}

/// Checks size and media type, then parses JSON (§1.5 steps 6–7, without the schema).
pub async fn read_json(headers: &HeaderMap, body: Body, limit: usize) -> Result<Value> {
    Ok(read_json_text(headers, body, limit).await?.0)
}

/// [`read_json`], also answering the bytes the value was parsed from.
pub async fn read_json_text(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<(Value, bytes::Bytes)> {
    let bytes = read_json_bytes(headers, body, limit).await?;
    Ok((accord_core::json::parse_body(&bytes)?, bytes))
}

/// The bytes of a JSON body, unparsed, after the size (413) and media type (415) checks of
/// [`read_json`], for a reader that parses them itself.
pub async fn read_json_bytes(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<bytes::Bytes> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        drain(body).await;
        return Err(Error::PayloadTooLarge(format!(
            "body exceeds the maximum size of {limit} bytes"
        )));
    }
    if media_type(headers).as_deref() != Some("application/json") {
        return Err(Error::UnsupportedMediaType(
            "Content-Type must be application/json".into(),
        ));
    }
    read_limited(body, limit).await
}

/// Validates a parsed body against its schema and deserialises it.
pub fn validated<T: DeserializeOwned>(value: &Value, schema: &Schema) -> Result<T> {
    accord_core::schema::parse(value, schema)
}

/// True when the request declares `multipart/form-data`.
pub fn is_multipart(headers: &HeaderMap) -> bool {
    media_type(headers).as_deref() == Some("multipart/form-data")
}

/// The organization for a caller whose organization-level role is at least `min`; 403
/// otherwise, and for an organization that does not exist (§1.5).
pub async fn org_scope(
    state: &AppState,
    who: &Principal,
    org: Uuid,
    min: Role,
) -> Result<Organization> {
    if who.org_role(org) < min {
        return Err(Error::forbidden());
    }
    state
        .store
        .get_organization(org)
        .await?
        .ok_or_else(Error::forbidden)
}

/// The organization and its projects, for a caller with basic access (§2.3): any role ≥
/// viewer in it or in one of its projects.
pub async fn basic_access(
    state: &AppState,
    who: &Principal,
    org: Uuid,
) -> Result<(Organization, Vec<Project>)> {
    let organization = state
        .store
        .get_organization(org)
        .await?
        .ok_or_else(Error::forbidden)?;
    let projects = state.store.list_projects(org).await?;
    let ids: Vec<Uuid> = projects.iter().map(|p| p.id).collect();
    if !who.has_any_access(org, &ids) {
        return Err(Error::forbidden());
    }
    Ok((organization, projects))
}
