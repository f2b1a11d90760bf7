//! Tracker scans (`--only scan`): pages scanned per minute by the static engine (the
//! baseline) and by the browser engine, in the same run, over the same fixture sites on
//! loopback; the server's peak resident memory with each engine, and Chromium's (every
//! process below the server) separately. Target: the server under 200 MB with the browser
//! engine.
use crate::http::{self, Conn};
use crate::server::{self, Server};
use crate::{emit, round, MEMORY_TARGET_MB};
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Same-host pages each fixture home page links (a deep scan loads all of them).
const LINKED_PAGES: usize = 20;
/// Fixture sites (project domains) per scan.
const SITES: usize = 2;

/// A fixture page: cookies by header and by script, storage, third-party tags on
/// 127.0.0.2 (one element, one injected by script that sends a beacon and an image).
fn page(third: &str, n: usize) -> String {
    let links: String = (1..=LINKED_PAGES)
        .map(|i| format!(r#"<a href="/p{i}">page {i}</a> "#))
        .collect();
    let filler = "<p>Lorem ipsum dolor sit amet, consectetur adipiscing elit.</p>".repeat(200);
    format!(
        r#"<!doctype html><html><head><title>page {n}</title>
        <script src="{third}/tag{n}.js"></script><link rel="stylesheet" href="{third}/s.css"></head>
        <body><img src="{third}/px.gif?p={n}">
        <script>document.cookie = 'seen{n}=1; path=/'; localStorage.setItem('visits', '{n}');
          const s = document.createElement('script'); s.src = '{third}/late{n}.js'; document.head.appendChild(s);</script>
        {links}{filler}</body></html>"#
    )
}

const TAG: &str = "(() => { const t = document.currentScript.src.replace(/\\/[^/]*$/, ''); \
navigator.sendBeacon(t + '/beacon', 'x'); new Image().src = t + '/i.gif'; })();";

/// What a fixture server answers for a path: the content type and the body.
type Answer = Arc<dyn Fn(&str) -> (String, String) + Send + Sync>;

/// Serves `answer(path)` on `ip` with a minimal HTTP/1.1 server (one request per
/// connection); its port.
async fn serve(ip: &str, answer: Answer) -> Result<u16> {
    let listener = tokio::net::TcpListener::bind((ip, 0)).await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                continue;
            };
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut got = 0;
                loop {
                    match s.read(&mut buf[got..]).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got += n,
                    }
                    if buf[..got].windows(4).any(|w| w == b"\r\n\r\n") || got == buf.len() {
                        break;
                    }
                }
                let head = String::from_utf8_lossy(&buf[..got]).into_owned();
                let path = head.split(' ').nth(1).unwrap_or("/").to_string();
                let (ctype, body) = answer(&path);
                let cookie = if ctype.starts_with("text/html") {
                    "set-cookie: sid=1; Path=/\r\n"
                } else {
                    ""
                };
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\n{cookie}connection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
                let _ = s.shutdown().await;
            });
        }
    });
    Ok(port)
}

/// The memory of every process below `pid` (Chromium and its helpers), kB: the sum of
/// their VmRSS (shared pages counted in each process) and of their proportional set size
/// (shared pages split between the processes sharing them: the honest total).
fn descendants_kb(pid: u32) -> (u64, u64) {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return (0, 0);
    };
    let mut parent: Vec<(u32, u32)> = Vec::new();
    for e in dir.flatten() {
        let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        if let Some(pp) = after.split_whitespace().nth(1).and_then(|s| s.parse().ok()) {
            parent.push((p, pp));
        }
    }
    let mut below = vec![pid];
    let mut i = 0;
    while i < below.len() {
        let cur = below[i];
        below.extend(parent.iter().filter(|(_, pp)| *pp == cur).map(|(p, _)| *p));
        i += 1;
    }
    let rss = below[1..]
        .iter()
        .filter_map(|p| server::vm_kb(*p, "VmRSS"))
        .sum();
    let pss = below[1..]
        .iter()
        .filter_map(|p| {
            let text = std::fs::read_to_string(format!("/proc/{p}/smaps_rollup")).ok()?;
            text.lines().find_map(|l| {
                l.strip_prefix("Pss:")?
                    .trim()
                    .strip_suffix("kB")?
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
        })
        .sum();
    (rss, pss)
}

async fn call(
    conn: &mut Conn,
    key: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Result<Value> {
    let body = body.map(|b| b.to_string());
    let r = conn
        .send(
            &http::request(method, path, Some(key), body.as_deref()),
            true,
        )
        .await?;
    if r.status >= 300 {
        bail!(
            "{method} {path}: {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
    }
    Ok(serde_json::from_slice(&r.body).unwrap_or(Value::Null))
}

/// Runs the scan benchmark: one server per engine on a fresh SQLite file.
pub async fn run(bin: &Path, pinned: bool, scans: usize) -> Result<()> {
    let third_port = serve(
        "127.0.0.2",
        Arc::new(|path: &str| {
            if path.ends_with(".js") {
                ("text/javascript".into(), TAG.into())
            } else {
                ("text/plain".into(), "ok".into())
            }
        }),
    )
    .await?;
    let third = format!("http://127.0.0.2:{third_port}");
    let mut sites = Vec::new();
    for _ in 0..SITES {
        let third = third.clone();
        let port = serve(
            "127.0.0.1",
            Arc::new(move |path: &str| {
                let n = path
                    .trim_start_matches("/p")
                    .trim_start_matches('/')
                    .parse()
                    .unwrap_or(0);
                ("text/html; charset=utf-8".into(), page(&third, n))
            }),
        )
        .await?;
        sites.push(port);
    }
    let mut rates = Vec::new();
    for engine in ["static", "browser"] {
        let dir = tempfile::Builder::new()
            .prefix("accord-bench-scan-")
            .tempdir()?;
        let url = format!("sqlite://{}", dir.path().join("accord.db").display());
        let srv = Server::start_env(
            bin,
            &url,
            dir.path(),
            pinned.then_some(0),
            &[
                ("ACCORD_SCAN_ENGINE", engine),
                ("ACCORD_SCAN_ALLOW_PRIVATE", "true"),
            ],
        )?;
        let result = measure(engine, &srv, &sites, scans).await;
        if result.is_err() {
            eprintln!("  server log tail:\n{}", srv.log_tail());
        }
        rates.push(result?);
    }
    let (static_rate, browser_rate) = (rates[0], rates[1]);
    emit(json!({
        "bench": "scan_summary",
        "static_pages_per_min": round(static_rate, 1),
        "browser_pages_per_min": round(browser_rate, 1),
        "browser_vs_static": round(browser_rate / static_rate.max(1e-9), 3),
    }));
    Ok(())
}

/// `scans` deep scans of the project's fixture domains through `srv`; pages per minute.
async fn measure(engine: &str, srv: &Server, sites: &[u16], scans: usize) -> Result<f64> {
    eprintln!("  {engine} engine: server pid {} on {}", srv.pid, srv.addr);
    let key = srv.boot.api_key.clone();
    let project = format!(
        "/privacy-v1/organizations/{}/projects/{}",
        srv.boot.organization_id, srv.boot.project_id
    );
    let mut conn = Conn::new(srv.addr);
    // Only the fixture sites are scanned: the bootstrap project's own domains go.
    let before = call(
        &mut conn,
        &key,
        "GET",
        &format!("{project}/domains?limit=100"),
        None,
    )
    .await?;
    for d in before["items"].as_array().into_iter().flatten() {
        let id = d["id"].as_str().unwrap_or_default();
        call(
            &mut conn,
            &key,
            "DELETE",
            &format!("{project}/domains/{id}"),
            None,
        )
        .await?;
    }
    for (i, port) in sites.iter().enumerate() {
        call(
            &mut conn,
            &key,
            "POST",
            &format!("{project}/domains"),
            Some(json!({"domain": format!("site{i}.localhost"), "url": format!("http://localhost:{port}/")})),
        )
        .await
        .context("creating a domain")?;
    }
    call(
        &mut conn,
        &key,
        "PATCH",
        &project,
        Some(json!({"settings": {"trackers": {"deepScan": true}}})),
    )
    .await?;
    let domains = call(
        &mut conn,
        &key,
        "GET",
        &format!("{project}/domains?limit=100"),
        None,
    )
    .await?;
    let domain_count = domains["items"].as_array().map_or(0, Vec::len);

    let server_peak = Arc::new(AtomicU64::new(0));
    let browser_peak = Arc::new(AtomicU64::new(0));
    let browser_pss_peak = Arc::new(AtomicU64::new(0));
    let (sp, bp, bpss, pid) = (
        server_peak.clone(),
        browser_peak.clone(),
        browser_pss_peak.clone(),
        srv.pid,
    );
    let sampler = tokio::spawn(async move {
        loop {
            if let Some(kb) = server::vm_kb(pid, "VmRSS") {
                sp.fetch_max(kb, Ordering::Relaxed);
            }
            let pid2 = pid;
            let (rss, pss) = tokio::task::spawn_blocking(move || descendants_kb(pid2))
                .await
                .unwrap_or((0, 0));
            bp.fetch_max(rss, Ordering::Relaxed);
            bpss.fetch_max(pss, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let started = Instant::now();
    let mut completed = 0;
    let mut detections = 0;
    for _ in 0..scans {
        let entry = call(
            &mut conn,
            &key,
            "POST",
            &format!("{project}/tracker-scans"),
            Some(json!({})),
        )
        .await?;
        let arn = entry["taskArn"].clone();
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let h = call(
                &mut conn,
                &key,
                "GET",
                &format!("{project}/tracker-scan-history"),
                None,
            )
            .await?;
            let newest = &h["scanHistory"][0];
            if newest["taskArn"] != arn {
                bail!("the newest scan is not the one started");
            }
            if newest["status"] == "completed" {
                completed += 1;
                detections = newest["results"]["total"].as_i64().unwrap_or(0);
                break;
            }
            if newest["status"] == "failed" || Instant::now() > deadline {
                bail!("{engine} scan did not complete: {newest}");
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    sampler.abort();
    // Each domain's page and the pages it links: the consent replay's second load of the
    // browser engine is work on top, not counted as pages.
    let pages = completed * domain_count * (1 + LINKED_PAGES);
    let per_min = pages as f64 / elapsed * 60.0;
    let server_mb = server_peak.load(Ordering::Relaxed) as f64 / 1024.0;
    let chromium_mb = browser_peak.load(Ordering::Relaxed) as f64 / 1024.0;
    emit(json!({
        "bench": "scan",
        "engine": engine,
        "baseline": engine == "static",
        "scans": completed,
        "domains": domain_count,
        "pages": pages,
        "detections_per_scan": detections,
        "seconds": round(elapsed, 2),
        "pages_per_min": round(per_min, 1),
        "server_peak_rss_mb": round(server_mb, 1),
        "server_target_mb": MEMORY_TARGET_MB,
        "server_target_met": server_mb < MEMORY_TARGET_MB,
        "chromium_peak_rss_sum_mb": round(chromium_mb, 1),
        "chromium_peak_pss_mb": round(browser_pss_peak.load(Ordering::Relaxed) as f64 / 1024.0, 1),
    }));
    Ok(per_min)
}
