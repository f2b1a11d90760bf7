//! `GET /site-v1/{projectId}/site-client` and `GET /site-v1/{projectId}/widget` (§5.8): the
//! scripts a website includes. The site client is `assets/site/client.js` with the
//! project's configuration embedded; the widget is `assets/site/widget.js` as it is. Both
//! are public (`Access-Control-Allow-Origin: *`, set by the Site API's CORS layer), cached by
//! browsers for five minutes and revalidated by `ETag` (the hash of the bytes served).
//!
//! The rendered site client is kept per project and API base until the store reports a
//! write to what it embeds ([`accord_core::store::SiteStore::site_config_epoch`]), and at
//! most [`SCRIPT_TTL`], so that another replica's writes are served soon too.
use crate::error::ApiResult;
use crate::extract::PathParams;
use crate::AppState;
use accord_core::regions;
use accord_core::store::Project;
use accord_core::Error;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The site client's source; `__ACCORD_CONFIG__` stands where the configuration goes.
const CLIENT_SOURCE: &str = include_str!("../../assets/site/client.js");
/// The widget bundle, served byte for byte.
const WIDGET_SOURCE: &str = include_str!("../../assets/site/widget.js");
const CONFIG_MARK: &str = "__ACCORD_CONFIG__";

/// How long a rendered site client is served without looking at the database again, when
/// this server wrote nothing it embeds (the store's read caches live as long).
pub const SCRIPT_TTL: Duration = Duration::from_secs(2);
/// Rendered scripts kept at most (one per project and API base); past it all are dropped.
const MAX_SCRIPTS: usize = 10_000;
const JAVASCRIPT: &str = "application/javascript; charset=utf-8";
const CACHE_CONTROL: &str = "public, max-age=300";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/site-v1/{projectId}/site-client", get(site_client))
        .route("/site-v1/{projectId}/widget", get(widget))
}

/// A script as served: its bytes and their `ETag`.
#[derive(Debug)]
pub struct Script {
    pub body: bytes::Bytes,
    pub etag: String,
}

impl Script {
    fn new(body: String) -> Script {
        let digest = Sha256::digest(body.as_bytes());
        let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        Script {
            body: bytes::Bytes::from(body),
            etag: format!("\"{hex}\""),
        }
    }
}

/// Rendered site clients by (project, API base), with the store epoch they were rendered
/// at and when.
#[derive(Default)]
pub struct ScriptCache {
    map: Mutex<HashMap<ScriptKey, Rendered>>,
}

/// A project and the API base its client names.
type ScriptKey = (Uuid, String);
/// The store epoch a script was rendered at, when, and the script.
type Rendered = (u64, Instant, Arc<Script>);

impl ScriptCache {
    fn get(&self, key: &ScriptKey, epoch: u64) -> Option<Arc<Script>> {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(key) {
            Some((e, at, s)) if *e == epoch && at.elapsed() < SCRIPT_TTL => Some(s.clone()),
            _ => None,
        }
    }

    fn put(&self, key: ScriptKey, epoch: u64, script: Arc<Script>) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_SCRIPTS {
            map.retain(|_, (_, at, _)| at.elapsed() < SCRIPT_TTL);
            if map.len() >= MAX_SCRIPTS {
                map.clear();
            }
        }
        map.insert(key, (epoch, Instant::now(), script));
    }
}

/// The client source with whole-line comments and indentation removed, split around the
/// configuration mark. The source keeps to what makes this safe: no template literals or
/// strings spanning lines, no line starting inside a comment block.
fn client_parts() -> &'static (String, String) {
    static PARTS: OnceLock<(String, String)> = OnceLock::new();
    PARTS.get_or_init(|| {
        let compact: String = CLIENT_SOURCE
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("//"))
            .map(|l| format!("{l}\n"))
            .collect();
        let (head, tail) = compact
            .split_once(CONFIG_MARK)
            .expect("client.js has a configuration mark");
        (head.to_string(), tail.to_string())
    })
}

fn widget_script() -> &'static Script {
    static W: OnceLock<Script> = OnceLock::new();
    W.get_or_init(|| Script::new(WIDGET_SOURCE.to_string()))
}

/// The active project named by the path (400 for a malformed id, 404 for an unknown or
/// archived project). No origin rule and no rate limit apply to these scripts (§1.6, §5.2).
async fn project_of(state: &AppState, path: &PathParams) -> ApiResult<Project> {
    path.validate_ids()?;
    let pid = path.uuid("projectId")?;
    state
        .store
        .site_project(pid)
        .await?
        .filter(Project::is_active)
        .ok_or_else(|| Error::not_found().into())
}

/// Scheme and host of the API as the browser reaches it: `ACCORD_PUBLIC_URL`, else the
/// request's own, with `X-Forwarded-Proto` and `X-Forwarded-Host` believed only from a
/// trusted proxy (`ACCORD_TRUSTED_PROXIES`).
pub(crate) fn api_base(
    state: &AppState,
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
) -> ApiResult<String> {
    if let Some(u) = &state.config.public_url {
        return Ok(u.trim_end_matches('/').to_string());
    }
    let first = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let from_proxy = peer.is_some_and(|p| crate::site::trusted(state, p.ip()));
    let forwarded_proto = from_proxy
        .then(|| first("x-forwarded-proto"))
        .flatten()
        .map(|p| p.to_ascii_lowercase())
        .filter(|p| p == "http" || p == "https");
    let forwarded_host = from_proxy
        .then(|| first("x-forwarded-host"))
        .flatten()
        .filter(|h| valid_host(h));
    let host = match forwarded_host {
        Some(h) => h,
        None => first("host")
            .filter(|h| valid_host(h))
            .ok_or_else(|| Error::bad("headers/host must match format \"host\""))?,
    };
    let scheme = forwarded_proto.unwrap_or_else(|| "http".into());
    Ok(format!("{scheme}://{}", host.to_ascii_lowercase()))
}

/// A host with an optional port, as a `Host` header carries it: a name, an IPv4 address
/// or a bracketed IPv6 address.
fn valid_host(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 260
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]_".contains(&b))
}

/// A consent type as embedded: what the client and widget use, not the `document`.
fn embedded_type(t: &accord_core::consent::ConsentType) -> Value {
    let mut v = serde_json::to_value(t).unwrap_or(Value::Null);
    if let Some(o) = v.as_object_mut() {
        for k in [
            "document",
            "organization",
            "project",
            "readOnly",
            "status",
            "consentDuration",
            "dateCreated",
            "dateUpdated",
        ] {
            o.remove(k);
        }
    }
    v
}

/// The configuration the site client embeds (§5.8).
async fn configuration(state: &AppState, project: &Project, base: &str) -> ApiResult<Value> {
    let store = &state.store;
    let domains = store.project_domain_names(project.id).await?;
    let types = store
        .project_consent_types(project.organization_id, project.id)
        .await?;
    let mut stored = store.list_regions(project.id).await?;
    stored.sort_by_key(|r| (!r.draft.is_default, r.date_created, r.id));
    let regions: Vec<Value> = stored
        .iter()
        .map(|r| {
            let view = regions::view(r, &types);
            let mut settings = view.settings;
            if let Some(policy) = settings.pointer_mut("/consent/consentBanner/policy") {
                if let Some(t) = types.iter().find(|t| Some(t.id) == r.draft.policy()) {
                    *policy = embedded_type(t);
                }
            }
            let mut o = json!({
                "id": view.id,
                "name": view.name,
                "regions": view.regions,
                "settings": settings,
                "language": view.language,
            });
            if let Some(s) = view.custom_script {
                o["customScript"] = json!(s);
            }
            o
        })
        .collect();
    let consent_types: Vec<Value> = types
        .iter()
        .filter(|t| t.status == "active")
        .map(embedded_type)
        .collect();
    let trackers: Vec<Value> = store
        .project_trackers(&[project.id])
        .await?
        .iter()
        .filter(|t| t.category != "ignored")
        .map(|t| {
            let mut o =
                json!({"id": t.id, "name": t.name, "type": t.tracker_type, "category": t.category});
            if let Some(d) = &t.domain {
                o["domain"] = json!(d);
            }
            if let Some(p) = &t.pattern {
                o["pattern"] = json!(p);
            }
            o
        })
        .collect();
    let real_time_scan = project
        .settings
        .pointer("/trackers/realTimeScan")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Ok(json!({
        "apiBase": base,
        "projectId": project.id,
        "domains": domains,
        "realTimeScan": real_time_scan,
        "aliases": {
            "EU": regions::alias_members("EU").unwrap_or_default(),
            "EEA": regions::alias_members("EEA").unwrap_or_default(),
        },
        "regions": regions,
        "consentTypes": consent_types,
        "trackers": trackers,
    }))
}

/// JSON that is safe inside a script: no `</script>`, no line separators JavaScript
/// engines older than ES2019 refuse in string literals.
fn script_json(v: &Value) -> String {
    serde_json::to_string(v)
        .unwrap_or_else(|_| "{}".into())
        .replace('<', "\\u003c")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

/// The site client of `project` for `base`, from the cache when nothing it embeds changed.
pub async fn render(state: &AppState, project: &Project, base: &str) -> ApiResult<Arc<Script>> {
    let key = (project.id, base.to_string());
    let epoch = state.store.site_config_epoch();
    if let Some(s) = state.site_scripts.get(&key, epoch) {
        return Ok(s);
    }
    let config = configuration(state, project, base).await?;
    let (head, tail) = client_parts();
    let script = Arc::new(Script::new(format!("{head}{}{tail}", script_json(&config))));
    state.site_scripts.put(key, epoch, script.clone());
    Ok(script)
}

/// Whether `If-None-Match` names `etag` (weak comparison, `*` included).
fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim())
        .any(|t| t == "*" || t.trim_start_matches("W/") == etag)
}

fn serve(headers: &HeaderMap, script: &Script) -> Response {
    let mut res = if not_modified(headers, &script.etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = script.body.clone().into_response();
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(JAVASCRIPT));
        r
    };
    let h = res.headers_mut();
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(CACHE_CONTROL),
    );
    if let Ok(v) = HeaderValue::from_str(&script.etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    res
}

async fn site_client(
    State(state): State<AppState>,
    extensions: axum::http::Extensions,
    path: PathParams,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let project = project_of(&state, &path).await?;
    let peer = extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    let base = api_base(&state, &headers, peer)?;
    let script = render(&state, &project, &base).await?;
    Ok(serve(&headers, &script))
}

async fn widget(
    State(state): State<AppState>,
    path: PathParams,
    headers: HeaderMap,
) -> ApiResult<Response> {
    project_of(&state, &path).await?;
    Ok(serve(&headers, widget_script()))
}

/// The paths of this module, for the Site API document.
pub fn document(paths: &mut Map<String, Value>) {
    let pid = || {
        vec![
            json!({"name": "projectId", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}}),
        ]
    };
    let headers = json!({
        "ETag": {"description": "Hash of the bytes served; it changes whenever they do (for the site client, whenever the project's regions, consent types, trackers or domains change).", "schema": {"type": "string"}},
        "Cache-Control": {"description": "`public, max-age=300`.", "schema": {"type": "string"}},
        "Access-Control-Allow-Origin": {"description": "`*`: any site may load the script.", "schema": {"type": "string"}},
    });
    let script_op = |summary: &str, description: &str, what: &str| {
        let mut responses = crate::docs::errors(&[400, 404, 414, 500]);
        responses.insert(
            "200".into(),
            json!({"description": what, "headers": headers.clone(), "content": {"application/javascript": {"schema": {"type": "string"}}}}),
        );
        responses.insert(
            "304".into(),
            json!({"description": "Not Modified: `If-None-Match` names the current `ETag`; no body.", "headers": headers.clone()}),
        );
        let mut params = pid();
        params.push(json!({"name": "If-None-Match", "in": "header", "required": false, "schema": {"type": "string"}, "description": "An `ETag` of an earlier answer (or `*`): when it is still current the answer is 304 without a body."}));
        json!({"tags": ["Site Client"], "summary": summary, "description": description, "parameters": params, "security": [], "responses": responses})
    };
    paths.insert(
        "/{projectId}/site-client".into(),
        json!({"get": script_op(
            "Site client script",
            "The script a website includes with one synchronous `<script src>` tag, without `async` or `defer`, before any tag it governs (§5.8). It embeds the project's configuration: the API base URL (`ACCORD_PUBLIC_URL`, else the request's scheme and host, `X-Forwarded-Proto` and `X-Forwarded-Host` believed only from trusted proxies), the project id and domains, every region (codes, settings, language, custom script), the active consent types without `document`, and the trackers not `ignored`. It sets Google Consent Mode defaults at once, then mints a session, resolves the region, reads the consent state, records first-visit and GPC events, exposes `window.concord`, dispatches `concord-ready`, updates Consent Mode and `dataLayer`, blocks trackers by category until consent, and loads the widget. No credentials, no origin rule, no rate limit. An unknown or archived project gives 404.",
            "The site client, `application/javascript; charset=utf-8`.",
        )}),
    );
    paths.insert(
        "/{projectId}/widget".into(),
        json!({"get": script_op(
            "Banner and privacy-center UI bundle",
            "The widget the site client loads (§5.8): the consent banner, the floating button, placeholders for blocked embeds and the privacy center, with its styles and built-in strings in one script. It reads the configuration the site client embedded (`window.concord.config`). No credentials, no origin rule, no rate limit. An unknown or archived project gives 404.",
            "The widget bundle, `application/javascript; charset=utf-8`.",
        )}),
    );
}
