//! The browser test harness: headless Chromium (the Debian package) driven over CDP by
//! chromiumoxide, fixture pages served on loopback, and a reverse proxy in front of the
//! Accord server under test.
//!
//! One loopback listener plays two hosts:
//! - `http://localhost:<port>` serves the fixture pages ([`Fixture::page`], [`Fixture::file`]);
//!   the bootstrapped project's domain is `localhost`, so these pages are the customer's site;
//! - `http://127.0.0.1:<port>` forwards everything to the Accord server as a CDN or load
//!   balancer would (`X-Forwarded-For`, `-Proto`, `-Host`, and the geography header of
//!   [`Fixture::set_geography`]); the server trusts it ([`start_site_server`]), so the site
//!   client it serves names this host as its API base. Pages thus call Accord cross-origin,
//!   as on a real site, and every call is logged ([`Fixture::requests`]).
//!
//! Any host under `.test` (e.g. `http://cdn.tracker.test:<port>`, [`Fixture::third_party`])
//! also reaches the fixture pages, as a third-party site. Chromium cannot resolve any
//! other host: a request elsewhere fails, so a test notices it instead of making it.
#![allow(dead_code)]

use crate::common::{start_with, Server};
use accord_api::ApiConfig;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chromiumoxide::cdp::browser_protocol::network::{
    EnableParams, Headers, SetExtraHttpHeadersParams,
};
use chromiumoxide::cdp::browser_protocol::page::{
    AddScriptToEvaluateOnNewDocumentParams, CaptureScreenshotFormat,
};
use chromiumoxide::cdp::js_protocol::runtime::EvaluateParams;
use chromiumoxide::page::ScreenshotParams;
use futures::StreamExt;
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The header carrying the visitor's geography from the proxy to the server.
pub const GEO_HEADER: &str = "x-test-geography";

/// An Accord server that trusts the fixture proxy on 127.0.0.1: its forwarded headers and
/// its geography header.
pub async fn start_site_server(b: accord_store::Backend) -> Server {
    start_with(b, site_config()).await
}

/// The configuration of [`start_site_server`], to adjust before starting.
pub fn site_config() -> ApiConfig {
    ApiConfig {
        rate_limit_privacy: 0,
        rate_limit_site: 0,
        trusted_proxies: vec!["127.0.0.1/32".parse().unwrap()],
        geo_header: Some(GEO_HEADER.into()),
        ..Default::default()
    }
}

// ---------------------------------------------------------------------------------------
// Fixture site and proxy

/// A fixture file: content type, extra response headers, body.
type File = (String, Vec<(String, String)>, Vec<u8>);

struct FixtureState {
    pages: Mutex<HashMap<String, File>>,
    upstream: String,
    geography: Mutex<Option<String>>,
    gpc: std::sync::atomic::AtomicBool,
    log: Mutex<Vec<String>>,
    client: reqwest::Client,
}

/// The customer's site and the proxy in front of Accord, on one loopback port.
pub struct Fixture {
    /// `http://localhost:<port>`: where fixture pages are served.
    pub origin: String,
    /// `http://127.0.0.1:<port>`: the proxy to the Accord server.
    pub api: String,
    state: Arc<FixtureState>,
}

impl Fixture {
    /// Serves fixture pages and proxies to `server` (started by [`start_site_server`]).
    pub async fn start(server: &Server) -> Fixture {
        Fixture::start_upstream(&server.base).await
    }

    /// The same in front of any Accord base URL.
    pub async fn start_upstream(upstream: &str) -> Fixture {
        let state = Arc::new(FixtureState {
            pages: Mutex::default(),
            upstream: upstream.to_string(),
            geography: Mutex::default(),
            gpc: Default::default(),
            log: Mutex::default(),
            client: reqwest::Client::new(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let app = axum::Router::new()
            .fallback(serve)
            .with_state(state.clone());
        tokio::spawn(async move {
            axum::serve(listener, app).await.ok();
        });
        Fixture {
            origin: format!("http://localhost:{port}"),
            api: format!("http://127.0.0.1:{port}"),
            state,
        }
    }

    /// Serves `html` at `path` of the fixture site.
    pub fn page(&self, path: &str, html: &str) {
        self.file(path, "text/html; charset=utf-8", html.as_bytes());
    }

    /// Serves `body` with `content_type` at `path` of the fixture site.
    pub fn file(&self, path: &str, content_type: &str, body: &[u8]) {
        self.file_with(path, content_type, &[], body);
    }

    /// [`Fixture::file`] with extra response headers (e.g. a Content-Security-Policy).
    pub fn file_with(&self, path: &str, content_type: &str, headers: &[(&str, &str)], body: &[u8]) {
        let headers = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.state.pages.lock().unwrap().insert(
            path.to_string(),
            (content_type.to_string(), headers, body.to_vec()),
        );
    }

    /// The full URL of a fixture page.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }

    /// The URL of a fixture file as a third-party host serves it, e.g.
    /// `third_party("cdn.tracker.test", "/analytics.js")`.
    pub fn third_party(&self, host: &str, path: &str) -> String {
        let port = self.api.rsplit(':').next().unwrap_or_default();
        format!("http://{host}:{port}{path}")
    }

    /// The geography (`CC` or `CC-SUB`) the proxy reports for the visitor; `None` for unknown.
    pub fn set_geography(&self, geo: Option<&str>) {
        *self.state.geography.lock().unwrap() = geo.map(str::to_string);
    }

    /// Whether the visitor's browser sends Global Privacy Control (`Sec-GPC: 1`), added by
    /// the proxy to what it forwards.
    pub fn set_gpc(&self, on: bool) {
        self.state
            .gpc
            .store(on, std::sync::atomic::Ordering::SeqCst);
    }

    /// `METHOD host path?query` of every request the fixture answered (pages, third-party
    /// files and forwarded calls), in order.
    pub fn requests(&self) -> Vec<String> {
        self.state.log.lock().unwrap().clone()
    }

    /// Forgets the logged requests.
    pub fn clear_requests(&self) {
        self.state.log.lock().unwrap().clear();
    }

    /// The tag a customer puts in their page to include the site client of `project`.
    pub fn site_client_tag(&self, project: uuid::Uuid) -> String {
        format!(
            r#"<script src="{}/site-v1/{project}/site-client"></script>"#,
            self.api
        )
    }
}

async fn serve(State(state): State<Arc<FixtureState>>, req: Request) -> Response {
    let host = req
        .headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_string();
    if host.starts_with("127.0.0.1") {
        return forward(&state, &host, req).await;
    }
    let path = req.uri().path().to_string();
    state
        .log
        .lock()
        .unwrap()
        .push(format!("{} {host} {path}", req.method()));
    match state.pages.lock().unwrap().get(&path) {
        Some((ct, headers, body)) => {
            let mut res = body.clone().into_response();
            res.headers_mut()
                .insert("content-type", HeaderValue::from_str(ct).unwrap());
            for (k, v) in headers {
                res.headers_mut().insert(
                    axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    HeaderValue::from_str(v).unwrap(),
                );
            }
            res.headers_mut()
                .insert("cache-control", HeaderValue::from_static("no-store"));
            res
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn forward(state: &FixtureState, host: &str, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let target = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    state
        .log
        .lock()
        .unwrap()
        .push(format!("{} {host} {target}", parts.method));
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let mut out = state
        .client
        .request(parts.method.clone(), format!("{}{target}", state.upstream));
    for (name, value) in &parts.headers {
        if !matches!(name.as_str(), "host" | "connection" | "content-length") {
            out = out.header(name, value);
        }
    }
    out = out
        .header("x-forwarded-for", "127.0.0.1")
        .header("x-forwarded-proto", "http")
        .header("x-forwarded-host", host);
    if let Some(geo) = state.geography.lock().unwrap().clone() {
        out = out.header(GEO_HEADER, geo);
    }
    if state.gpc.load(std::sync::atomic::Ordering::SeqCst) {
        out = out.header("sec-gpc", "1");
    }
    let answer = match out.body(body).send().await {
        Ok(a) => a,
        Err(_) => return StatusCode::BAD_GATEWAY.into_response(),
    };
    let mut res = Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        if !matches!(
            name.as_str(),
            "connection" | "transfer-encoding" | "content-length"
        ) {
            res = res.header(name, value);
        }
    }
    let bytes = answer.bytes().await.unwrap_or_default();
    res.body(Body::from(bytes)).unwrap()
}

// ---------------------------------------------------------------------------------------
// Chromium

/// The headless Chromium of the Debian package. Missing, it fails the test under `CI=true`
/// (`.ci/run` installs it) and skips it otherwise.
pub fn chromium() -> Option<PathBuf> {
    let found = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "Chromium is missing with CI=true (apt-get install -y chromium)"
        );
        eprintln!("skipping the browser test: Chromium is not installed");
    }
    found
}

/// Where screenshots go: `target/screenshots` of the build.
pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let dir = target.join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A headless Chromium with a fresh profile: its storage (localStorage included) lasts as
/// long as this value, across the pages it opens.
pub struct Browser {
    browser: chromiumoxide::Browser,
    handler: tokio::task::JoinHandle<()>,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Launches Chromium; `None` when it is not installed (and `CI` is not `true`).
    pub async fn launch() -> Option<Browser> {
        let exe = chromium()?;
        let profile = tempfile::tempdir().unwrap();
        let config = chromiumoxide::BrowserConfig::builder()
            .chrome_executable(exe)
            .new_headless_mode()
            .no_sandbox()
            .user_data_dir(profile.path())
            .window_size(1280, 800)
            .viewport(chromiumoxide::handler::viewport::Viewport {
                width: 1280,
                height: 800,
                ..Default::default()
            })
            .launch_timeout(Duration::from_secs(60))
            .request_timeout(Duration::from_secs(60))
            .args([
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--host-resolver-rules=MAP *.test 127.0.0.1, MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
            ])
            .build()
            .expect("browser config");
        let (browser, mut handler) = chromiumoxide::Browser::launch(config)
            .await
            .expect("Chromium starts");
        // Messages chromiumoxide cannot parse are reported as errors: keep reading.
        let handler = tokio::spawn(async move { while handler.next().await.is_some() {} });
        Some(Browser {
            browser,
            handler,
            _profile: profile,
        })
    }

    /// A new tab on `about:blank`.
    pub async fn tab(&self) -> Tab {
        let page = self.browser.new_page("about:blank").await.expect("new tab");
        page.execute(EnableParams::default())
            .await
            .expect("network");
        Tab { page }
    }

    /// A new tab that has opened `url`.
    pub async fn open(&self, url: &str) -> Tab {
        let tab = self.tab().await;
        tab.goto(url).await;
        tab
    }

    /// A new tab in a fresh browser context: its own cookies and storage, as a second
    /// person on another computer.
    pub async fn private_tab(&self) -> Tab {
        let context = self
            .browser
            .create_browser_context(Default::default())
            .await
            .expect("browser context");
        let mut params =
            chromiumoxide::cdp::browser_protocol::target::CreateTargetParams::new("about:blank");
        params.browser_context_id = Some(context);
        let page = self.browser.new_page(params).await.expect("new tab");
        page.execute(EnableParams::default())
            .await
            .expect("network");
        Tab { page }
    }

    /// Saves the files the default context downloads into `dir`.
    pub async fn download_to(&self, dir: &Path) {
        use chromiumoxide::cdp::browser_protocol::browser::{
            SetDownloadBehaviorBehavior, SetDownloadBehaviorParams,
        };
        let mut params = SetDownloadBehaviorParams::new(SetDownloadBehaviorBehavior::Allow);
        params.download_path = Some(dir.to_string_lossy().into_owned());
        self.browser
            .execute(params)
            .await
            .expect("download behavior");
    }

    /// Closes the browser and waits for it to exit.
    pub async fn close(mut self) {
        let _ = self.browser.close().await;
        let _ = self.browser.wait().await;
        self.handler.abort();
    }
}

/// One tab of a [`Browser`].
pub struct Tab {
    pub page: chromiumoxide::Page,
}

impl Tab {
    /// Navigates and waits for the load event.
    pub async fn goto(&self, url: &str) {
        self.page.goto(url).await.expect("navigation");
    }

    /// Extra headers on every request of this tab (e.g. `{"Sec-GPC": "1"}`).
    pub async fn set_headers(&self, headers: Value) {
        self.page
            .execute(SetExtraHttpHeadersParams::new(Headers::new(headers)))
            .await
            .expect("extra headers");
    }

    /// A script run in every document this tab opens next, before any of the page's own
    /// (e.g. a recorder of `gtag` and `dataLayer` calls).
    pub async fn before_pages(&self, js: &str) {
        self.page
            .execute(AddScriptToEvaluateOnNewDocumentParams::new(js))
            .await
            .expect("init script");
    }

    /// Evaluates `js` in the page (awaiting a Promise) and answers its JSON value; a
    /// thrown exception fails the test with its text.
    pub async fn eval(&self, js: &str) -> Value {
        let params = EvaluateParams::builder()
            .expression(js)
            .await_promise(true)
            .return_by_value(true)
            .build()
            .expect("evaluate params");
        let res = self.page.execute(params).await.expect("evaluate");
        if let Some(ex) = &res.result.exception_details {
            let detail = ex
                .exception
                .as_ref()
                .and_then(|e| e.description.clone())
                .unwrap_or_else(|| ex.text.clone());
            panic!("page script failed: {detail}\nscript: {js}");
        }
        res.result.result.value.clone().unwrap_or(Value::Null)
    }

    /// Waits until `js` evaluates to a truthy value and answers it; fails the test with
    /// `what` after `timeout`.
    pub async fn wait_for(&self, js: &str, timeout: Duration, what: &str) -> Value {
        let start = Instant::now();
        loop {
            let v = self.eval(js).await;
            let truthy = !matches!(&v, Value::Null | Value::Bool(false)) && v != 0 && v != "";
            if truthy {
                return v;
            }
            assert!(
                start.elapsed() < timeout,
                "timed out after {timeout:?} waiting for {what} ({js})"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Chooses `files` in the file input matching `selector`, as the file picker does.
    pub async fn choose_files(&self, selector: &str, files: &[&Path]) {
        let input = self.page.find_element(selector).await.expect("file input");
        self.page
            .execute(
                chromiumoxide::cdp::browser_protocol::dom::SetFileInputFilesParams {
                    files: files
                        .iter()
                        .map(|f| f.to_string_lossy().into_owned())
                        .collect(),
                    node_id: None,
                    backend_node_id: Some(input.backend_node_id),
                    object_id: None,
                },
            )
            .await
            .expect("files chosen");
    }

    /// Sizes the viewport to `width` × `height` CSS pixels (`mobile`: a phone's).
    pub async fn resize(&self, width: i64, height: i64, mobile: bool) {
        use chromiumoxide::cdp::browser_protocol::emulation::SetDeviceMetricsOverrideParams;
        let scale = if mobile { 2.0 } else { 1.0 };
        self.page
            .execute(SetDeviceMetricsOverrideParams::new(
                width, height, scale, mobile,
            ))
            .await
            .expect("viewport size");
    }

    /// Saves a PNG of the viewport to `target/screenshots/<name>.png` and answers its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self
            .page
            .screenshot(
                ScreenshotParams::builder()
                    .format(CaptureScreenshotFormat::Png)
                    .build(),
            )
            .await
            .expect("screenshot");
        let path = screenshot_dir().join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }
}

/// axe-core from its npm package (`scripts/test.sh` installs it under `target/npm`).
pub fn axe_source() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/npm/node_modules/axe-core/axe.min.js");
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "axe-core is missing at {} ({e}): npm install --prefix target/npm axe-core@4",
            path.display()
        )
    })
}

/// Runs axe-core on the page and answers the serious and critical violations.
pub async fn axe(tab: &Tab, axe_js: &str) -> Vec<Value> {
    tab.eval(&format!(
        "(() => {{ if (!window.axe) {{ {axe_js} }} return true; }})()"
    ))
    .await;
    let found = tab
        .eval(
            "axe.run(document, {resultTypes: ['violations']}).then(r => r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical').map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' ') + ': ' + n.failureSummary)})))",
        )
        .await;
    found.as_array().unwrap().clone()
}
