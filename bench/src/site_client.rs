//! The site client in a real headless Chromium (the Debian package), against the server
//! under test on loopback: how long after its script tag the Consent Mode defaults are set
//! (target under 1 ms) and `concord-ready` is dispatched (target under 100 ms).
//!
//! The page is served on `localhost` (the bootstrapped project's domain) by a minimal HTTP
//! responder of this module and includes the site client from the server, as a customer's
//! page would. Each figure is the median of `loads` page loads in fresh tabs, next to its
//! baseline from the same loads:
//! - `default_ms`: from the end of the script's download to the `gtag('consent','default')`
//!   call, i.e. parsing and running the client up to its first step; baseline: the same for
//!   an empty external script (`window.t = performance.now()`) served by the page's host;
//!   `default_run_ms` is the part after the client's first statement ran;
//! - `ready_ms`: from the script tag to `concord-ready` (download, session, state);
//!   baseline: one `fetch` of the widget script (a small public file of the same server)
//!   from the same page.
use crate::http::{self, Conn};
use crate::server::Server;
use anyhow::{bail, Context, Result};
use chromiumoxide::cdp::js_protocol::runtime::EvaluateParams;
use futures::StreamExt;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Target of the time to the consent defaults, milliseconds.
const DEFAULT_TARGET_MS: f64 = 1.0;
/// Target of the time to `concord-ready` on loopback, milliseconds.
const READY_TARGET_MS: f64 = 100.0;

const BASELINE_JS: &str = "window.__tBase = performance.now();";

fn page(api: &str, project: &str) -> String {
    format!(
        r#"<!doctype html><html><head><meta charset=utf-8><title>bench</title>
<script>
window.__t0 = performance.now();
// The client's first statement reads window.concord: the start of its execution.
Object.defineProperty(window, 'concord', {{configurable: true,
  get: function () {{ if (!window.__tStart) window.__tStart = performance.now(); return undefined; }},
  set: function (v) {{ Object.defineProperty(window, 'concord', {{value: v, writable: true, configurable: true}}); }}
}});
window.dataLayer = [];
dataLayer.push = function (a) {{
  if (!window.__tDefault && a && a[0] === 'consent' && a[1] === 'default') window.__tDefault = performance.now();
  return Array.prototype.push.apply(this, arguments);
}};
addEventListener('concord-ready', function () {{ window.__tReady = performance.now(); }});
</script>
<script src="/baseline.js"></script>
<script>window.__t1 = performance.now();</script>
<script src="{api}/site-v1/{project}/site-client"></script>
</head><body>bench</body></html>"#
    )
}

/// Serves `/` (the page) and `/baseline.js` on 127.0.0.1 until the task is dropped.
async fn serve_page(html: String) -> Result<(u16, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let task = tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let html = html.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut got = 0;
                while got < buf.len() {
                    match sock.read(&mut buf[got..]).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got += n,
                    }
                    if buf[..got].windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
                let head = String::from_utf8_lossy(&buf[..got]);
                let path = head.split_whitespace().nth(1).unwrap_or("/");
                let (ct, body) = if path == "/baseline.js" {
                    ("application/javascript", BASELINE_JS.to_string())
                } else {
                    ("text/html; charset=utf-8", html)
                };
                let res = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: {ct}\r\ncache-control: no-store\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(res.as_bytes()).await;
            });
        }
    });
    Ok((port, task))
}

async fn eval(page: &chromiumoxide::Page, js: &str) -> Result<Value> {
    let params = EvaluateParams::builder()
        .expression(js)
        .await_promise(true)
        .return_by_value(true)
        .build()
        .map_err(anyhow::Error::msg)?;
    let res = page.execute(params).await?;
    if let Some(ex) = &res.result.exception_details {
        anyhow::bail!("page script failed: {}", ex.text);
    }
    Ok(res.result.result.value.clone().unwrap_or(Value::Null))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    v[v.len() / 2]
}

/// Turns Consent Mode on (`basic`) in the project's Default region, so that the client sets
/// its defaults (the Default region has it `disabled` by default).
async fn enable_consent_mode(srv: &Server) -> Result<()> {
    let boot = &srv.boot;
    let base = format!(
        "/privacy-v1/organizations/{}/projects/{}/regions",
        boot.organization_id, boot.project_id
    );
    let mut conn = Conn::new(srv.addr);
    let res = conn
        .send(
            &http::request("GET", &base, Some(&boot.api_key), None),
            true,
        )
        .await?;
    let list: Value = serde_json::from_slice(&res.body).context("regions")?;
    let default = list["items"]
        .as_array()
        .and_then(|a| a.iter().find(|r| r["regions"] == json!(["default"])))
        .and_then(|r| r["id"].as_str())
        .context("the Default region")?;
    let body = json!({"settings": {"consent": {"gcm": "basic"}}}).to_string();
    let res = conn
        .send(
            &http::request(
                "PATCH",
                &format!("{base}/{default}"),
                Some(&boot.api_key),
                Some(&body),
            ),
            true,
        )
        .await?;
    if res.status != 200 {
        bail!("PATCH region: {}", String::from_utf8_lossy(&res.body));
    }
    Ok(())
}

/// Measures `loads` page loads against the server `srv`.
pub async fn measure(database: &str, srv: &Server, loads: usize) -> Result<()> {
    enable_consent_mode(srv).await?;
    let api = format!("http://{}", srv.addr);
    let api = api.as_str();
    let project = srv.boot.project_id.as_str();
    let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .context("Chromium is not installed (apt-get install -y chromium)")?;
    let (port, server) = serve_page(page(api, project)).await?;
    let profile = tempfile::tempdir()?;
    let config = chromiumoxide::BrowserConfig::builder()
        .chrome_executable(chromium)
        .new_headless_mode()
        .no_sandbox()
        .user_data_dir(profile.path())
        .args([
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
        ])
        .build()
        .map_err(anyhow::Error::msg)?;
    let (mut browser, mut handler) = chromiumoxide::Browser::launch(config).await?;
    let events = tokio::spawn(async move { while handler.next().await.is_some() {} });
    let url = format!("http://localhost:{port}/");
    let (mut default_ms, mut base_ms, mut ready_ms, mut health_ms) =
        (vec![], vec![], vec![], vec![]);
    let mut run_ms = vec![];
    for i in 0..loads + 1 {
        let tab = browser.new_page(url.as_str()).await?;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if eval(&tab, "!!window.__tReady").await? == Value::Bool(true) {
                break;
            }
            anyhow::ensure!(Instant::now() < deadline, "no concord-ready within 20 s");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let m = eval(
            &tab,
            &format!(
                "(async function () {{
                   var r = performance.getEntriesByType('resource');
                   var end = function (s) {{ var e = r.find(function (x) {{ return x.name.indexOf(s) >= 0; }}); return e ? e.responseEnd : NaN; }};
                   var h0 = performance.now();
                   await (await fetch('{api}/site-v1/{project}/widget', {{cache: 'no-store'}})).text();
                   var health = performance.now() - h0;
                   return {{
                     default: window.__tDefault - Math.max(end('/site-client'), window.__t1),
                     run: window.__tDefault - window.__tStart,
                     base: window.__tBase - Math.max(end('/baseline.js'), window.__t0),
                     ready: window.__tReady - window.__t1,
                     health: health
                   }};
                 }})()"
            ),
        )
        .await?;
        tab.close().await?;
        // The first load warms the browser and the server; it is not counted.
        if i == 0 {
            continue;
        }
        let f = |k: &str| m[k].as_f64().unwrap_or(f64::NAN);
        default_ms.push(f("default"));
        run_ms.push(f("run"));
        base_ms.push(f("base"));
        ready_ms.push(f("ready"));
        health_ms.push(f("health"));
    }
    let _ = browser.close().await;
    let _ = browser.wait().await;
    events.abort();
    server.abort();
    let round = |v: f64| (v * 1000.0).round() / 1000.0;
    let median_run = median(run_ms);
    let (d, b, r, h) = (
        median(default_ms),
        median(base_ms),
        median(ready_ms),
        median(health_ms),
    );
    crate::emit(json!({
        "bench": "site_client",
        "database": database,
        "loads": loads,
        "default_ms": round(d),
        "default_run_ms": round(median_run),
        "default_baseline_empty_script_ms": round(b),
        "default_target_ms": DEFAULT_TARGET_MS,
        // The target counts from the moment the script runs (its first statement).
        "default_ok": median_run < DEFAULT_TARGET_MS,
        "ready_ms": round(r),
        "ready_baseline_one_fetch_ms": round(h),
        "ready_target_ms": READY_TARGET_MS,
        "ready_ok": r < READY_TARGET_MS,
    }));
    Ok(())
}
