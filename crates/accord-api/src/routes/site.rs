//! `/site-v1/{projectId}/…`: session minting (§5.2), profile (§5.5) and identify (§5.6).
//! The consent endpoints of the site are in `site_consent`.
use crate::error::ApiResult;
use crate::extract::{read_json, read_limited};
use crate::respond::{created, ok, Json};
use crate::site::{self as s, Client, SiteProject, SiteSession, SITE_BODY_LIMIT};
use crate::AppState;
use accord_core::schema::{parse, published};
use accord_core::site::{
    self as core_site, CallerSite, Identified, IdentifyBody, IdentifyOutcome, MintedSession,
    ProfileBody, SessionBody, SessionClaims, SessionRecord,
};
use accord_core::time::now_ms;
use accord_core::Error;
use axum::body::Body;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Map, Value};
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/site-v1/{projectId}/session", post(mint))
        .route("/site-v1/{projectId}/profile", post(profile))
        .route("/site-v1/{projectId}/identify", post(identify))
}

impl FromRequestParts<AppState> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(s::client(state, parts))
    }
}

/// A body that may be absent (§1.1): an empty body reads as `{}` whatever its headers;
/// otherwise it must be JSON within the site limit.
async fn optional_json(headers: &HeaderMap, body: Body) -> Result<Value, Error> {
    let too_large = || {
        Error::PayloadTooLarge(format!(
            "body exceeds the maximum size of {SITE_BODY_LIMIT} bytes"
        ))
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok());
    if declared.is_some_and(|n| n > SITE_BODY_LIMIT) {
        crate::extract::drain(body).await;
        return Err(too_large());
    }
    let bytes = read_limited(body, SITE_BODY_LIMIT).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    let json_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"));
    if !json_type {
        return Err(Error::UnsupportedMediaType(
            "Content-Type must be application/json".into(),
        ));
    }
    accord_core::json::parse_body(&bytes)
}

fn non_empty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

// ---------------------------------------------------------------------------------------
// Session

async fn mint(
    State(state): State<AppState>,
    SiteProject { project, .. }: SiteProject,
    client: Client,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<MintedSession>> {
    let raw = optional_json(&headers, body).await?;
    let b: SessionBody = parse(&raw, core_site::session_body_schema())?;
    let requested = non_empty(b.concord_id).and_then(|c| Uuid::parse_str(&c).ok());
    let url = non_empty(b.url);
    let referrer = non_empty(b.referrer);
    let cid = state.store.session_identity(&project, requested).await?;
    let domain = match s::site_of(&headers) {
        CallerSite::Host(h) => Some(h),
        _ => url.as_deref().and_then(core_site::url_host),
    };
    let now = now_ms();
    let record = SessionRecord {
        id: accord_core::ids::new_id(),
        organization_id: project.organization_id,
        project_id: project.id,
        concord_id: cid,
        ip_address: client.ip.map(|ip| ip.to_string()),
        domain,
        geography: client.geography.clone(),
        user_agent: client.user_agent,
        gpc: client.gpc,
        url,
        referrer,
        date_created: now,
        date_updated: now,
    };
    state.store.create_session(&record).await?;
    let claims = SessionClaims::new(
        project.id,
        record.id,
        cid,
        client.gpc,
        client.geography.clone(),
        now / 1000,
    );
    let token = s::sign(&state, &claims).await?;
    Ok(created(MintedSession {
        session: token,
        concord_id: cid,
        expires_at: claims.exp * 1000,
        geography: client.geography,
        gpc: client.gpc,
    }))
}

// ---------------------------------------------------------------------------------------
// Profile and identify (§5.5, §5.6)

async fn profile(
    State(state): State<AppState>,
    session: SiteSession,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Uuid>> {
    let raw = read_json(&headers, body, SITE_BODY_LIMIT).await?;
    let b: ProfileBody = parse(&raw, core_site::profile_schema())?;
    let me = session.identity(&state).await?;
    if let Some(c) = non_empty(b.concord_id.clone()) {
        let named = Uuid::parse_str(&c).ok();
        if named != Some(me) && named != Some(session.claims.cid) {
            return Err(Error::forbidden().into());
        }
    }
    state
        .store
        .update_profile(&session.project, me, &b.update())
        .await?;
    Ok(ok(me))
}

fn allows_unverified(project: &accord_core::store::Project) -> bool {
    project
        .settings
        .pointer("/identity/allowUnverifiedIdentify")
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

async fn identify(
    State(state): State<AppState>,
    session: SiteSession,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Identified>> {
    let raw = read_json(&headers, body, SITE_BODY_LIMIT).await?;
    let b: IdentifyBody = parse(&raw, core_site::identify_schema())?;
    let key = b.key();
    if let Err(e @ Error::BadRequest(_)) = &key {
        return Err(e.clone().into());
    }
    let project = &session.project;
    let now = now_ms();
    if b.kind != "contextId" && !allows_unverified(project) {
        let secret = state.store.identify_secret(project.id).await?;
        if !b.proof_valid(secret.as_deref(), now / 1000) {
            return Err(Error::Forbidden(core_site::IDENTIFY_PROOF.into()).into());
        }
    }
    let key = key?;
    let me = session.identity(&state).await?;
    let outcome = state.store.identify(project, me, &key).await?;
    let (synced, cid) = match outcome {
        IdentifyOutcome::Merged { into } => (true, into),
        IdentifyOutcome::AlreadyMatching => (true, me),
        IdentifyOutcome::Attached => (false, me),
    };
    let claims = SessionClaims {
        cid,
        ..session.claims.refreshed(now / 1000)
    };
    state
        .store
        .touch_session(project.id, claims.sid, now)
        .await?;
    let token = s::sign(&state, &claims).await?;
    Ok(ok(Identified {
        synced,
        session: token,
    }))
}

// ---------------------------------------------------------------------------------------
// OpenAPI

/// The paths of this module, for the Site API document.
pub fn document(paths: &mut Map<String, Value>) {
    use crate::docs::op;
    let pid = || {
        vec![
            json!({"name": "projectId", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}}),
        ]
    };
    let write_errs = &[400, 401, 403, 404, 413, 415, 422, 429, 500][..];
    let mut session = op(
        "Session",
        "Mint a session token",
        "Starts a visitor session for the project (no credentials): reuses the stored `concordId` when it is a live identity of the project, otherwise makes a new identity, records the session (address, domain, geography, user agent, GPC) and answers a token for `x-session` valid 24 hours. A request with an `Origin` or `Referer` must come from one of the project's domains or their subdomains (403 `origin not allowed for this project`); one with neither is a server-side caller. An unknown or archived project gives 404.",
        pid(),
        None,
        201,
        published::<MintedSession>(),
        &[400, 403, 404, 413, 415, 429, 500],
        false,
    );
    session["requestBody"] = json!({"required": false, "content": {"application/json": {"schema": core_site::session_body_schema().json_schema()}}});
    paths.insert("/{projectId}/session".into(), json!({"post": session}));
    paths.insert(
        "/{projectId}/profile".into(),
        json!({"post": op("Profile", "Update the identity's profile; returns the concordId", "Writes profile fields of the session's identity and answers its `concordId` as a JSON string. Session holders only.", pid(), Some(core_site::profile_json_schema()), 200,
            published::<Uuid>(), write_errs, true)}),
    );
    paths.insert(
        "/{projectId}/identify".into(),
        json!({"post": op("Identify", "Identify the visitor and merge identities", "Links the visitor to an identifier (§5.6). When another identity holds it, the session's identity is merged into that one (events and requests move, `identity_merged`) and a token for the survivor is answered; when none does, the identifier is attached to the session's identity. An email or user id needs a `token` signed with the project's identify secret unless the project allows unverified identify (403 `identify requires a valid token`). Session holders only.", pid(), Some(core_site::identify_json_schema()), 200,
            published::<Identified>(), write_errs, true)}),
    );
}
