//! The browser engine (`ACCORD_SCAN_ENGINE=browser`): each page is loaded in headless
//! Chromium, driven over the DevTools protocol, so that trackers injected by JavaScript are
//! seen. One Chromium per server, launched on the first scan and launched again if it dies;
//! each scan gets fresh incognito contexts whose every request goes through the scan's
//! guarded [`Proxy`]. It records the cookies of the context (set by headers or by script),
//! the page's `localStorage` and `sessionStorage` keys and every third-party request, then
//! loads each page again as a visitor who declined consent (the consent replay). GCM scans
//! observe the `dataLayer` while the page loads.
use crate::fetch::Limits;
use crate::proxy::{Proxy, Rules};
use crate::{distinct, first_party, DEEP_CONCURRENCY, DEEP_PAGES, MAX_DETECTIONS};
use accord_core::gcm::{self, GcmContext, GcmIssue};
use accord_core::scans::{Evidence, ReplayObservation, ScanEngine, ScanReport, ScanTarget};
use accord_core::trackers::Detection;
use chromiumoxide::cdp::browser_protocol::browser::BrowserContextId;
use chromiumoxide::cdp::browser_protocol::network::{
    EventDataReceived, EventRequestWillBeSent, ResourceType,
};
use chromiumoxide::cdp::browser_protocol::storage::GetCookiesParams;
use chromiumoxide::cdp::browser_protocol::target::{
    CreateBrowserContextParams, CreateTargetParams,
};
use chromiumoxide::{Browser, BrowserConfig, Page};
use futures::StreamExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use url::Url;

/// After its `load` event a page is watched at least [`SETTLE_MIN`], then until it has
/// been quiet (no new request) for [`QUIET`], and [`SETTLE_MAX`] at most: tags that fire
/// on a short timer are seen even when the machine is busy.
const SETTLE_MIN: Duration = Duration::from_millis(750);
const QUIET: Duration = Duration::from_millis(500);
const SETTLE_MAX: Duration = Duration::from_secs(3);
/// Requests recorded per page at most.
const MAX_REQUESTS: usize = 5000;

/// Runs in every document before its own scripts: records the Google Consent Mode commands
/// pushed to `dataLayer` (whoever replaces the array or its `push`) and, in a consent
/// replay, declines every non-essential consent type through the Accord site client as
/// soon as `window.concord` exists.
const INSTRUMENT: &str = r#"(() => {
  if (window.top !== window) return;
  const seen = { consent: [], concord: false, declined: false };
  Object.defineProperty(window, '__accordScan', { value: seen });
  const note = (it) => {
    try {
      if (it && it[0] === 'consent' && (it[1] === 'default' || it[1] === 'update'))
        seen.consent.push([it[1], Date.now()]);
    } catch (e) {}
  };
  const hook = (dl) => {
    if (!dl || typeof dl !== 'object' || dl.__accordHooked) return dl;
    try {
      for (const it of Array.from(dl)) note(it);
      let inner = dl.push;
      const push = function (...items) { items.forEach(note); return inner.apply(this, items); };
      Object.defineProperty(dl, 'push', { configurable: true, get() { return push; }, set(f) { inner = f; } });
      Object.defineProperty(dl, '__accordHooked', { value: true });
    } catch (e) {}
    return dl;
  };
  let dataLayer;
  Object.defineProperty(window, 'dataLayer', {
    configurable: true, enumerable: true,
    get() { return dataLayer; }, set(v) { dataLayer = hook(v); },
  });
  if (!__DECLINE__) return;
  const decline = () => {
    const c = window.concord;
    if (seen.declined || !c || !c.consent || typeof c.consent.addConsentEvent !== 'function') return seen.declined;
    seen.concord = true;
    seen.declined = true;
    const all = (c.config && Array.isArray(c.config.consentTypes)) ? c.config.consentTypes : [];
    const essential = (t) => Array.isArray(t.subcategory) ? t.subcategory.includes('strictly_necessary') : t.subcategory === 'strictly_necessary';
    let types = all.filter((t) => t && t.category === 'privacy_setting' && !essential(t));
    if (types.length === 0)
      types = ['advertising', 'analytics', 'functional', 'personalization'].map((s) => ({ category: 'privacy_setting', subcategory: [s] }));
    for (const t of types) {
      const ev = { category: t.category, subcategory: t.subcategory, consentState: 'declined', consentAction: 'user_click' };
      if (t.label) ev.label = t.label;
      try { Promise.resolve(c.consent.addConsentEvent(ev)).catch(() => {}); } catch (e) {}
    }
    return true;
  };
  let concord = window.concord;
  try {
    Object.defineProperty(window, 'concord', {
      configurable: true, enumerable: true,
      get() { return concord; }, set(v) { concord = v; queueMicrotask(decline); },
    });
  } catch (e) {}
  const poll = setInterval(() => { if (decline()) clearInterval(poll); }, 5);
  setTimeout(() => clearInterval(poll), 30000);
})();"#;

/// The `--proxy-server` of Chromium itself: a port nothing listens on, so that a request
/// made outside a scan's context fails instead of going out unguarded.
const NO_PROXY: &str = "http://127.0.0.1:9";

/// The browser engine.
#[derive(Debug)]
pub struct BrowserEngine {
    limits: Limits,
    executable: PathBuf,
    live: tokio::sync::Mutex<Option<Arc<Live>>>,
}

/// A running Chromium and the task reading its DevTools connection.
#[derive(Debug)]
struct Live {
    browser: Browser,
    handler: tokio::task::JoinHandle<()>,
    dir: PathBuf,
}

impl Drop for Live {
    fn drop(&mut self) {
        // The browser's process is killed when `browser` is dropped.
        self.handler.abort();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Why a page is loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// A tracker scan's load.
    Scan,
    /// The consent replay's load, declining consent.
    Replay,
    /// A GCM scan's load, which also reads the page's markup.
    Gcm,
}

/// One request of a page.
#[derive(Debug, Clone)]
struct Request {
    url: String,
    kind: Option<ResourceType>,
    /// Milliseconds since the epoch.
    wall_ms: f64,
}

/// What one page load observed.
#[derive(Debug, Default)]
struct Visit {
    /// The page's URL after redirects.
    url: Option<Url>,
    requests: Vec<Request>,
    local: Vec<String>,
    session: Vec<String>,
    links: Vec<Url>,
    /// `default`/`update` and when (epoch ms).
    consent: Vec<(String, f64)>,
    concord: bool,
    html: String,
}

/// What the engine watches of a page while it loads.
#[derive(Debug, Default)]
struct Watch {
    requests: Vec<Request>,
    main_frame: Option<String>,
    doc_request: Option<String>,
    doc_url: Option<String>,
    redirects: usize,
    doc_bytes: i64,
    last: Option<Instant>,
    abort: Option<String>,
}

impl BrowserEngine {
    /// An engine running `executable` (the `chromium` package's `/usr/bin/chromium`).
    pub fn new(limits: Limits, executable: impl Into<PathBuf>) -> Self {
        BrowserEngine {
            limits,
            executable: executable.into(),
            live: tokio::sync::Mutex::new(None),
        }
    }

    /// The running Chromium, launched now when there is none or it died.
    async fn browser(&self) -> Result<Arc<Live>, String> {
        let mut live = self.live.lock().await;
        if let Some(l) = live.as_ref() {
            // A browser killed from outside may leave its connection open: ask it.
            if !l.handler.is_finished()
                && within(Duration::from_secs(3), l.browser.version())
                    .await
                    .is_ok()
            {
                return Ok(l.clone());
            }
            tracing::warn!("the scan browser stopped; launching it again");
        }
        *live = None;
        let l = Arc::new(self.launch().await?);
        *live = Some(l.clone());
        Ok(l)
    }

    /// The profile folder of the running Chromium (its `--user-data-dir`), if one runs.
    pub async fn profile_dir(&self) -> Option<PathBuf> {
        let live = self.live.lock().await;
        live.as_ref()
            .filter(|l| !l.handler.is_finished())
            .map(|l| l.dir.clone())
    }

    /// Forgets the running Chromium (it is killed once no scan uses it any more).
    async fn discard(&self, broken: &Arc<Live>) {
        let mut live = self.live.lock().await;
        if live.as_ref().is_some_and(|l| Arc::ptr_eq(l, broken)) {
            *live = None;
        }
    }

    async fn launch(&self) -> Result<Live, String> {
        let dir = std::env::temp_dir().join(format!("accord-chromium-{}", uuid::Uuid::new_v4()));
        let config = BrowserConfig::builder()
            .chrome_executable(&self.executable)
            .new_headless_mode()
            .no_sandbox()
            .user_data_dir(&dir)
            .launch_timeout(Duration::from_secs(30))
            .request_timeout(self.limits.timeout + Duration::from_secs(5))
            .args([
                "--disable-gpu",
                "--disable-component-update",
                "--disable-domain-reliability",
                "--no-default-browser-check",
                "--disable-features=TranslateUI,IsolateOrigins,site-per-process,MediaRouter,OptimizationHints",
                "--disable-site-isolation-trials",
                "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
                "--webrtc-ip-handling-policy=disable_non_proxied_udp",
                &format!("--proxy-server={NO_PROXY}"),
                "--proxy-bypass-list=<-loopback>",
            ])
            .build()?;
        let (browser, mut handler) = Browser::launch(config)
            .await
            .map_err(|e| format!("the scan browser could not start: {e}"))?;
        let handler = tokio::spawn(async move {
            let mut errors = 0;
            while let Some(event) = handler.next().await {
                match event {
                    Ok(()) => errors = 0,
                    Err(e) => {
                        errors += 1;
                        tracing::debug!(error = %e, "scan browser connection");
                        if errors > 100 {
                            break;
                        }
                    }
                }
            }
        });
        tracing::info!(executable = %self.executable.display(), "scan browser started");
        Ok(Live {
            browser,
            handler,
            dir,
        })
    }

    fn rules(&self) -> Rules {
        Rules {
            allow_private: self.limits.allow_private,
            exempt: self.limits.exempt.clone(),
            max_bytes: self.limits.max_bytes,
            connect_timeout: self.limits.timeout,
        }
    }

    async fn context(&self, live: &Live, proxy: &Proxy) -> Result<BrowserContextId, String> {
        let params = CreateBrowserContextParams::builder()
            .dispose_on_detach(true)
            .proxy_server(format!("http://{}", proxy.addr))
            .proxy_bypass_list("<-loopback>")
            .build();
        within(
            self.limits.timeout,
            live.browser.create_browser_context(params),
        )
        .await
        .map_err(|e| format!("the scan browser could not open a context: {e}"))
    }

    async fn close_context(&self, live: &Arc<Live>, ctx: BrowserContextId) {
        if within(
            Duration::from_secs(5),
            live.browser.dispose_browser_context(ctx),
        )
        .await
        .is_err()
        {
            self.discard(live).await;
        }
    }

    /// The cookies of a context, as detections with their evidence.
    async fn cookies(&self, live: &Live, ctx: &BrowserContextId) -> Vec<(Detection, Evidence)> {
        let params = GetCookiesParams::builder()
            .browser_context_id(ctx.clone())
            .build();
        let Ok(found) = within(self.limits.timeout, live.browser.execute(params)).await else {
            return vec![];
        };
        found
            .result
            .cookies
            .iter()
            .map(|c| {
                let domain = c.domain.trim_start_matches('.').to_ascii_lowercase();
                (
                    Detection {
                        name: c.name.chars().take(256).collect(),
                        tracker_type: "cookie".into(),
                        domain: (!domain.is_empty()).then_some(domain),
                        pattern: None,
                    },
                    Evidence::Cookie(c.name.chars().take(256).collect()),
                )
            })
            .collect()
    }

    /// Loads `url` in `ctx`; what the page did, or why it could not be loaded.
    async fn visit(
        &self,
        live: &Arc<Live>,
        ctx: &BrowserContextId,
        proxy: &Proxy,
        url: &str,
        mode: Mode,
    ) -> Result<Visit, String> {
        let parsed = Url::parse(url).map_err(|e| format!("{url} is not a URL: {e}"))?;
        if parsed.scheme() != "http" && parsed.scheme() != "https" {
            return Err(format!("{url}: only http and https are fetched"));
        }
        let params = CreateTargetParams::builder()
            .url("about:blank")
            .browser_context_id(ctx.clone())
            .build()
            .map_err(|e| format!("the scan browser could not open a page: {e}"))?;
        let page = within(Duration::from_secs(10), live.browser.new_page(params))
            .await
            .map_err(|e| format!("the scan browser could not open a page: {e}"))?;
        let started = Instant::now();
        let result = tokio::time::timeout(
            self.limits.timeout,
            self.load(&page, proxy, &parsed, mode, started),
        )
        .await;
        let closed = within(Duration::from_secs(5), page.close()).await;
        if closed.is_err() {
            self.discard(live).await;
        }
        match result {
            Ok(r) => r,
            Err(_) => Err(format!(
                "{url}: no complete answer within {} s",
                self.limits.timeout.as_secs_f64()
            )),
        }
    }

    async fn load(
        &self,
        page: &Page,
        proxy: &Proxy,
        url: &Url,
        mode: Mode,
        started: Instant,
    ) -> Result<Visit, String> {
        let cdp = |e: chromiumoxide::error::CdpError| format!("{url}: {e}");
        let decline = if mode == Mode::Replay {
            "true"
        } else {
            "false"
        };
        let script = INSTRUMENT.replace("__DECLINE__", decline);
        page.evaluate_on_new_document(script).await.map_err(cdp)?;
        let watch: Arc<Mutex<Watch>> = Arc::default();
        watch_lock(&watch).main_frame = page
            .mainframe()
            .await
            .ok()
            .flatten()
            .map(|f| f.inner().clone());
        let aborted = Arc::new(tokio::sync::Notify::new());
        let mut sent = page
            .event_listener::<EventRequestWillBeSent>()
            .await
            .map_err(cdp)?;
        let mut data = page
            .event_listener::<EventDataReceived>()
            .await
            .map_err(cdp)?;
        let (max_redirects, max_bytes) = (self.limits.max_redirects, self.limits.max_bytes);
        let w = watch.clone();
        let stop = aborted.clone();
        let watcher = tokio::spawn(async move {
            loop {
                tokio::select! {
                    Some(ev) = sent.next() => {
                        let mut w = watch_lock(&w);
                        w.last = Some(Instant::now());
                        let main_doc = ev.r#type == Some(ResourceType::Document)
                            && ev.frame_id.as_ref().map(|f| f.inner()) == w.main_frame.as_ref();
                        if main_doc {
                            if ev.redirect_response.is_some() && w.doc_request.as_deref() == Some(ev.request_id.inner()) {
                                w.redirects += 1;
                                if w.redirects > max_redirects && w.abort.is_none() {
                                    w.abort = Some(format!("more than {max_redirects} redirects"));
                                    stop.notify_one();
                                }
                            } else {
                                w.redirects = 0;
                                w.doc_bytes = 0;
                            }
                            w.doc_request = Some(ev.request_id.inner().clone());
                            w.doc_url = Some(ev.request.url.clone());
                        }
                        if w.requests.len() < MAX_REQUESTS {
                            w.requests.push(Request {
                                url: ev.request.url.clone(),
                                kind: ev.r#type.clone(),
                                wall_ms: *ev.wall_time.inner() * 1000.0,
                            });
                        }
                    }
                    Some(ev) = data.next() => {
                        let mut w = watch_lock(&w);
                        if w.doc_request.as_deref() == Some(ev.request_id.inner()) {
                            w.doc_bytes += ev.data_length;
                            if w.doc_bytes > max_bytes as i64 && w.abort.is_none() {
                                w.abort = Some(format!("the page is larger than {max_bytes} bytes"));
                                stop.notify_one();
                            }
                        }
                    }
                    else => break,
                }
            }
        });
        let _stop_watcher = AbortOnDrop(watcher);

        let nav = tokio::select! {
            r = page.goto(url.as_str()) => r.map(|_| ()).map_err(|e| e.to_string()),
            () = aborted.notified() => Err(String::new()),
        };
        let failure = |w: &Watch, nav_error: Option<String>| -> Option<String> {
            let doc = w
                .doc_url
                .as_deref()
                .and_then(|u| Url::parse(u).ok())
                .unwrap_or_else(|| url.clone());
            if let Some(why) = doc.host_str().and_then(|h| proxy.refusal(h)) {
                return Some(format!("{doc}: {why}"));
            }
            if let Some(why) = &w.abort {
                return Some(format!("{doc}: {why}"));
            }
            nav_error.map(|e| format!("{doc}: {e}"))
        };
        if let Some(e) = failure(&watch_lock(&watch), nav.err()) {
            return Err(e);
        }
        // Let the page finish what it started after `load` (tags, beacons), within limits.
        let loaded = Instant::now();
        let settle_until = loaded + SETTLE_MAX;
        loop {
            let now = Instant::now();
            let quiet_since = watch_lock(&watch).last.unwrap_or(started);
            if now >= settle_until
                || now.duration_since(loaded) >= SETTLE_MIN
                    && now.duration_since(quiet_since) >= QUIET
                || watch_lock(&watch).abort.is_some()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if let Some(e) = failure(&watch_lock(&watch), None) {
            return Err(e);
        }
        let read_html = if mode == Mode::Gcm { "true" } else { "false" };
        let facts: String = page
            .evaluate(
                "JSON.stringify((() => { const s = window.__accordScan || {consent: []}; let l = [], ss = []; \
                 try { l = Object.keys(localStorage); } catch (e) {} try { ss = Object.keys(sessionStorage); } catch (e) {} \
                 return { l, s: ss, c: s.consent, concord: !!s.concord || !!(window.concord && window.concord.consent), \
                   links: Array.from(document.querySelectorAll('a[href]')).map((a) => a.href).slice(0, 1000), \
                   html: __HTML__ && document.documentElement ? document.documentElement.outerHTML.slice(0, 5242880) : '' }; })())"
                    .replace("__HTML__", read_html),
            )
            .await
            .map_err(cdp)?
            .into_value()
            .map_err(|e| format!("{url}: {e}"))?;
        let facts: facts::Facts = facts::parse(&facts);
        let w = std::mem::take(&mut *watch_lock(&watch));
        let final_url = w.doc_url.as_deref().and_then(|u| Url::parse(u).ok());
        Ok(Visit {
            url: final_url,
            requests: w.requests,
            local: facts.local,
            session: facts.session,
            links: facts
                .links
                .iter()
                .filter_map(|l| Url::parse(l).ok())
                .collect(),
            consent: facts.consent,
            concord: facts.concord,
            html: facts.html,
        })
    }
}

fn watch_lock(w: &Mutex<Watch>) -> std::sync::MutexGuard<'_, Watch> {
    w.lock().unwrap_or_else(|e| e.into_inner())
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// `fut` within `limit`, its error and the timeout both in words.
async fn within<T, E: std::fmt::Display>(
    limit: Duration,
    fut: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match tokio::time::timeout(limit, fut).await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => Err("the scan browser did not answer in time".into()),
    }
}

/// What the engine reads from a loaded page.
mod facts {
    #[derive(Debug, Default)]
    pub struct Facts {
        pub local: Vec<String>,
        pub session: Vec<String>,
        pub consent: Vec<(String, f64)>,
        pub concord: bool,
        pub links: Vec<String>,
        pub html: String,
    }

    pub fn parse(s: &str) -> Facts {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(s) else {
            return Facts::default();
        };
        let strings = |k: &str| -> Vec<String> {
            v[k].as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        Facts {
            local: strings("l"),
            session: strings("s"),
            consent: v["c"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| Some((x[0].as_str()?.to_owned(), x[1].as_f64()?)))
                        .collect()
                })
                .unwrap_or_default(),
            concord: v["concord"].as_bool().unwrap_or(false),
            links: strings("links"),
            html: v["html"].as_str().unwrap_or_default().to_owned(),
        }
    }
}

/// Whether `url` loads a Google tag (gtag.js, gtm.js).
pub fn is_google_tag(url: &Url) -> bool {
    let path = url.path();
    url.host_str()
        .is_some_and(|h| h.ends_with("googletagmanager.com"))
        || path.starts_with("/gtag/js")
        || path.ends_with("/gtag.js")
        || path.ends_with("/gtm.js")
}

/// Whether `url` is a Google measurement request (the kind that carries `gcs`).
pub fn is_google_measurement(url: &Url) -> bool {
    let host = url.host_str().unwrap_or_default();
    let path = url.path();
    let google_host = host.ends_with("google-analytics.com")
        || host.ends_with("doubleclick.net")
        || host.ends_with("googleadservices.com")
        || host == "analytics.google.com"
        || host == "www.google.com" && path.starts_with("/pagead");
    google_host || path.ends_with("/g/collect") || path.ends_with("/j/collect")
}

/// The detection of a request from `page_domains`' point of view: third-party requests
/// only (`name` = host + path, `domain` = host).
fn request_detection(r: &Request, domains: &[String]) -> Option<Detection> {
    let u = Url::parse(&r.url).ok()?;
    if u.scheme() != "http" && u.scheme() != "https" {
        return None;
    }
    let host = u.host_str()?.to_ascii_lowercase();
    if first_party(&host, domains) {
        return None;
    }
    let tracker_type = match r.kind {
        Some(ResourceType::Script) => "script",
        Some(ResourceType::Document) => "iframe",
        Some(ResourceType::Stylesheet) | Some(ResourceType::Font) => "link",
        // Images, beacons, fetch and XHR: a tracking pixel by any other means.
        _ => "image",
    };
    Some(Detection {
        name: format!("{host}{}", u.path()).chars().take(256).collect(),
        tracker_type: tracker_type.into(),
        domain: Some(host),
        pattern: None,
    })
}

/// What a visit detected besides cookies: third-party requests (the main document's own
/// requests excluded) and storage keys, each with its evidence.
fn visit_detections(v: &Visit, domains: &[String]) -> Vec<(Detection, Evidence)> {
    let mut out = Vec::new();
    for r in &v.requests {
        if let Some(d) = request_detection(r, domains) {
            out.push((d, Evidence::Request(r.url.clone())));
        }
    }
    let host = v
        .url
        .as_ref()
        .and_then(|u| u.host_str())
        .map(str::to_ascii_lowercase);
    for (keys, ty) in [(&v.local, "local_storage"), (&v.session, "session_storage")] {
        for k in keys {
            out.push((
                Detection {
                    name: k.chars().take(256).collect(),
                    tracker_type: ty.into(),
                    domain: host.clone(),
                    pattern: None,
                },
                Evidence::Cookie(k.clone()),
            ));
        }
    }
    out
}

/// The same-host links of a visit that a deep scan loads.
fn deep_links(v: &Visit) -> Vec<Url> {
    let Some(base) = &v.url else { return vec![] };
    let mut out: Vec<Url> = Vec::new();
    for l in &v.links {
        if out.len() == DEEP_PAGES {
            break;
        }
        let mut l = l.clone();
        l.set_fragment(None);
        if matches!(l.scheme(), "http" | "https")
            && l.host_str() == base.host_str()
            && l.port_or_known_default() == base.port_or_known_default()
            && l != *base
            && !out.contains(&l)
        {
            out.push(l);
        }
    }
    out
}

impl BrowserEngine {
    /// Scans `target` (and its deep pages) in one context; what it detected.
    async fn scan_pages(
        &self,
        live: &Arc<Live>,
        proxy: &Proxy,
        target: &ScanTarget,
        replay: bool,
    ) -> Result<(Vec<(Detection, Evidence)>, Vec<String>, bool), String> {
        let ctx = self.context(live, proxy).await?;
        let mut found = Vec::new();
        let mut google = Vec::new();
        let mut concord = false;
        let mut failures = Vec::new();
        for url in &target.urls {
            let mode = if replay { Mode::Replay } else { Mode::Scan };
            let visit = match self.visit(live, &ctx, proxy, url, mode).await {
                Ok(v) => v,
                Err(e) => {
                    tracing::warn!(scan = %target.scan_id, reason = %e, replay, "scan target skipped");
                    failures.push(e);
                    continue;
                }
            };
            concord |= visit.concord;
            let links = if target.deep && !replay {
                deep_links(&visit)
            } else {
                vec![]
            };
            let mut pages = vec![visit];
            let deep: Vec<_> = futures::stream::iter(links)
                .map(|l| {
                    let ctx = &ctx;
                    async move { self.visit(live, ctx, proxy, l.as_str(), Mode::Scan).await }
                })
                .buffer_unordered(DEEP_CONCURRENCY)
                .collect()
                .await;
            for v in deep {
                match v {
                    Ok(v) => pages.push(v),
                    Err(e) => {
                        tracing::info!(scan = %target.scan_id, reason = %e, "deep scan page skipped")
                    }
                }
            }
            for v in &pages {
                found.extend(visit_detections(v, &target.domains));
                google.extend(
                    v.requests
                        .iter()
                        .filter(|r| {
                            !matches!(r.kind, Some(ResourceType::Script))
                                && Url::parse(&r.url).is_ok_and(|u| is_google_measurement(&u))
                        })
                        .map(|r| r.url.clone()),
                );
            }
            if found.len() > 10 * MAX_DETECTIONS {
                break;
            }
        }
        found.extend(self.cookies(live, &ctx).await);
        self.close_context(live, ctx).await;
        if !target.urls.is_empty() && failures.len() == target.urls.len() {
            return Err(failures.join("; "));
        }
        Ok((found, google, concord))
    }
}

#[async_trait::async_trait]
impl ScanEngine for BrowserEngine {
    async fn scan(&self, target: &ScanTarget) -> accord_core::Result<Vec<Detection>> {
        Ok(self.report(target).await?.detections)
    }

    /// Each domain's page (and, deep, its same-host pages) is loaded in a fresh context and
    /// everything it set or requested is detected; then each domain's page is loaded again,
    /// in another fresh context, as a visitor who declined consent.
    async fn report(&self, target: &ScanTarget) -> accord_core::Result<ScanReport> {
        let fail = |e: String| accord_core::Error::internal(e);
        let live = self.browser().await.map_err(fail)?;
        let proxy = Proxy::start(self.rules())
            .await
            .map_err(|e| fail(format!("the scan proxy could not start: {e}")))?;
        let (found, _, _) = self
            .scan_pages(&live, &proxy, target, false)
            .await
            .map_err(fail)?;
        let detections = distinct(found.into_iter().map(|(d, _)| d).collect(), target);
        let replay = match self.scan_pages(&live, &proxy, target, true).await {
            Ok((seen, google, concord)) => {
                let mut kept = std::collections::HashSet::new();
                let seen: Vec<(Detection, Evidence)> = seen
                    .into_iter()
                    .filter(|(d, e)| {
                        kept.insert((d.tracker_type.clone(), d.name.clone(), format!("{e:?}")))
                    })
                    .take(MAX_DETECTIONS)
                    .collect();
                Some(ReplayObservation {
                    mode: if concord { "site_client" } else { "no_consent" }.into(),
                    seen,
                    google,
                })
            }
            Err(e) => {
                tracing::warn!(scan = %target.scan_id, reason = %e, "consent replay failed");
                None
            }
        };
        Ok(ScanReport { detections, replay })
    }

    /// The page is loaded once; the consent commands pushed to `dataLayer` and the requests
    /// to Google tag endpoints are compared in time.
    async fn gcm(&self, url: &str, ctx: &GcmContext) -> Result<Vec<GcmIssue>, String> {
        let live = self.browser().await?;
        let proxy = Proxy::start(self.rules())
            .await
            .map_err(|e| format!("the scan proxy could not start: {e}"))?;
        let context = self.context(&live, &proxy).await?;
        let visit = self.visit(&live, &context, &proxy, url, Mode::Gcm).await;
        self.close_context(&live, context).await;
        Ok(gcm_issues(&visit?, ctx))
    }
}

/// The GCM issues of what a page did while it loaded.
fn gcm_issues(v: &Visit, ctx: &GcmContext) -> Vec<GcmIssue> {
    let first = |cmd: &str| {
        v.consent
            .iter()
            .filter(|(c, _)| c == cmd)
            .map(|(_, t)| *t)
            .reduce(f64::min)
    };
    let default = first("default");
    let update = first("update");
    let google_tag = v
        .requests
        .iter()
        .filter(|r| Url::parse(&r.url).is_ok_and(|u| is_google_tag(&u)))
        .map(|r| r.wall_ms)
        .reduce(f64::min);
    let google_any = google_tag.is_some()
        || v.requests
            .iter()
            .any(|r| Url::parse(&r.url).is_ok_and(|u| is_google_measurement(&u)));
    let mut issues = Vec::new();
    match (default, google_tag) {
        (None, _) => issues.push(GcmIssue::new(
            gcm::DEFAULT_CONSENT_NOT_SET,
            "no gtag('consent', 'default', …) ran while the page loaded",
        )),
        // Both clocks are the system's, to the millisecond.
        (Some(d), Some(g)) if g + 1.0 < d => issues.push(GcmIssue::new(
            gcm::DEFAULT_CONSENT_TOO_LATE,
            "a Google tag was requested before gtag('consent', 'default', …) ran",
        )),
        _ => {}
    }
    if update.is_none() {
        // No update during the load: the page must at least be able to send one.
        let base = v
            .url
            .clone()
            .or_else(|| Url::parse("http://localhost/").ok());
        let Some(base) = base else { return issues };
        let parsed = crate::html::parse(&base, v.html.as_bytes());
        let static_issues = crate::gcm::check(&parsed, ctx);
        if !v.concord
            && static_issues
                .iter()
                .any(|i| i.code == gcm::CONSENT_NOT_UPDATED)
        {
            issues.push(GcmIssue::new(
                gcm::CONSENT_NOT_UPDATED,
                "no gtag('consent', 'update', …) ran, and the page has neither the project's site client nor an inline update call",
            ));
        }
    }
    if google_any && ctx.gcm_disabled {
        issues.push(GcmIssue::new(
            gcm::CONSENT_TAB_EMPTY,
            "the page requested Google tags while the project's Default region has Google Consent Mode disabled",
        ));
    }
    issues
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn google_endpoints() {
        let u = |s: &str| Url::parse(s).unwrap();
        assert!(is_google_tag(&u(
            "https://www.googletagmanager.com/gtag/js?id=G-1"
        )));
        assert!(is_google_tag(&u("http://127.0.0.2:80/gtm.js")));
        assert!(!is_google_tag(&u("https://example.com/app.js")));
        assert!(is_google_measurement(&u(
            "https://region1.google-analytics.com/g/collect?gcs=G100"
        )));
        assert!(is_google_measurement(&u(
            "http://127.0.0.2:9/g/collect?v=2"
        )));
        assert!(!is_google_measurement(&u("https://example.com/collect")));
    }

    #[test]
    fn requests_are_detected_by_kind() {
        let domains = vec!["localhost".to_string()];
        let r = |url: &str, kind| Request {
            url: url.into(),
            kind,
            wall_ms: 0.0,
        };
        let d = request_detection(
            &r("http://127.0.0.2:8/px?x=1", Some(ResourceType::Ping)),
            &domains,
        )
        .unwrap();
        assert_eq!(
            (d.tracker_type.as_str(), d.name.as_str()),
            ("image", "127.0.0.2/px")
        );
        let d = request_detection(
            &r("http://127.0.0.2:8/f", Some(ResourceType::Document)),
            &domains,
        )
        .unwrap();
        assert_eq!(d.tracker_type, "iframe");
        assert!(request_detection(
            &r("http://localhost:8/app.js", Some(ResourceType::Script)),
            &domains
        )
        .is_none());
        assert!(request_detection(
            &r("data:image/png;base64,AA", Some(ResourceType::Image)),
            &domains
        )
        .is_none());
    }
}
