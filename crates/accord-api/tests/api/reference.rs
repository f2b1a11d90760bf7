//! The browsable API reference pages, `GET /privacy-v1/docs` and `GET /site-v1/docs`: served
//! with their renderer embedded and a Content-Security-Policy that allows this server only,
//! and rendered by a real headless Chromium that cannot resolve any other host, from the
//! served documents (every operation summary shows), without a request leaving for another
//! host.
use crate::both;
use crate::browser::{chromium, screenshot_dir};
use crate::common::*;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

both!(
    reference_pages_are_served_with_their_renderer_and_a_strict_policy,
    reference_pages_render_in_chromium_without_other_hosts
);

const APIS: [(&str, &str); 2] = [("privacy", "/privacy-v1"), ("site", "/site-v1")];

fn document(name: &str) -> &'static Value {
    match name {
        "privacy" => accord_api::openapi::privacy_document(),
        _ => accord_api::openapi::site_document(),
    }
}

async fn reference_pages_are_served_with_their_renderer_and_a_strict_policy(
    b: accord_store::Backend,
) {
    let s = start(b).await;
    for (_, base) in APIS {
        // A browser on a customer's site sends an Origin: the page is public all the same.
        let res = s
            .client
            .get(s.url(&format!("{base}/docs")))
            .header("origin", "https://elsewhere.example")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{base}/docs");
        let h = res.headers().clone();
        assert_eq!(h["content-type"], "text/html; charset=utf-8");
        let csp = h["content-security-policy"].to_str().unwrap();
        assert_eq!(csp, accord_api::reference::CONTENT_SECURITY_POLICY);
        for directive in [
            "default-src 'none'",
            "script-src 'self';",
            "connect-src 'self';",
            "img-src 'self' data:;",
        ] {
            assert!(csp.contains(directive), "{csp} lacks {directive}");
        }
        assert!(!csp.contains("http"), "no other host is allowed: {csp}");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert!(h.contains_key("x-request-id"));
        let page = res.text().await.unwrap();
        assert!(page.contains(r#"spec-url="docs/json""#), "{page}");
        assert!(
            page.contains(r#"<script src="docs/reference.js">"#),
            "{page}"
        );
        assert!(
            !page.contains("http"),
            "the page names no other host: {page}"
        );

        // The embedded renderer, compressed when the client takes gzip.
        let res = s
            .client
            .get(s.url(&format!("{base}/docs/reference.js")))
            .header("accept-encoding", "gzip")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(
            res.headers()["content-type"],
            "application/javascript; charset=utf-8"
        );
        assert_eq!(res.headers()["content-encoding"], "gzip");
        let gzipped = res.bytes().await.unwrap();
        assert!(
            gzipped.len() * 3 < accord_api::reference::SCRIPT.len(),
            "{} gzipped bytes",
            gzipped.len()
        );
        let res = s
            .client
            .get(s.url(&format!("{base}/docs/reference.js")))
            .send()
            .await
            .unwrap();
        assert!(res.headers().get("content-encoding").is_none());
        let plain = res.text().await.unwrap();
        assert_eq!(plain, accord_api::reference::SCRIPT);
        assert!(plain.len() < 1_500_000, "{} bytes", plain.len());
    }
}

/// Runs Chromium headless on `url` with `args`, unable to resolve any host but 127.0.0.1,
/// and answers its standard output. Headless Chromium now and then never exits after a
/// `--screenshot` on a loaded machine: a run that takes over a minute is killed and tried
/// again, three times at most.
async fn chromium_run(chromium: &Path, url: &str, args: Vec<String>) -> String {
    for attempt in 1..=3 {
        let profile = tempfile::tempdir().unwrap();
        let child = tokio::process::Command::new(chromium)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-extensions",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                "--virtual-time-budget=15000",
                "--window-size=1400,1000",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(&args)
            .arg(url)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("chromium runs");
        match tokio::time::timeout(Duration::from_secs(60), child.wait_with_output()).await {
            Ok(out) => {
                let out = out.expect("chromium's output");
                assert!(
                    out.status.success(),
                    "chromium failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                return String::from_utf8_lossy(&out.stdout).into_owned();
            }
            Err(_) => eprintln!("chromium did not finish within a minute (attempt {attempt})"),
        }
    }
    panic!("chromium did not finish within a minute, three times");
}

/// The URLs of the requests the page made (those whose initiator is the page's origin),
/// read from the browser's net log. The browser's own background requests name no page as
/// their initiator.
fn page_requests(netlog: &Path, origin: &str) -> Vec<String> {
    let text = std::fs::read_to_string(netlog).expect("net log written");
    let log: Value = serde_json::from_str(&text).expect("net log is JSON");
    let start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"].clone();
    log["events"]
        .as_array()
        .expect("net log events")
        .iter()
        .filter(|e| e["type"] == start_job && e["params"]["initiator"] == origin)
        .filter_map(|e| e["params"]["url"].as_str().map(str::to_string))
        .collect()
}

async fn reference_pages_render_in_chromium_without_other_hosts(b: accord_store::Backend) {
    let Some(chromium) = chromium() else {
        return;
    };
    let s = start(b).await;
    let shots = screenshot_dir();
    for (name, base) in APIS {
        let url = s.url(&format!("{base}/docs"));
        let logs = tempfile::tempdir().unwrap();
        let netlog = logs.path().join("netlog.json");
        let dom = chromium_run(
            &chromium,
            &url,
            vec![
                format!("--log-net-log={}", netlog.display()),
                "--dump-dom".into(),
            ],
        )
        .await;
        // The renderer ran and read the served document: its title and every operation's
        // summary are on the page.
        let doc = document(name);
        let text = dom.replace("&amp;", "&");
        let title = doc["info"]["title"].as_str().unwrap();
        assert!(text.contains(title), "{name}: no title in {dom:.2000}");
        let mut summaries = 0;
        for item in doc["paths"].as_object().unwrap().values() {
            for op in item.as_object().unwrap().values() {
                let summary = op["summary"].as_str().unwrap();
                assert!(
                    text.contains(summary),
                    "{name}: summary {summary:?} is not rendered: {dom:.2000}"
                );
                summaries += 1;
            }
        }
        assert!(summaries >= 5, "{name}: {summaries} operations");
        // And the page asked for nothing but this server: its script and its document.
        let origin = s.url("");
        let origin = origin.trim_end_matches('/');
        let requests = page_requests(&netlog, origin);
        let foreign: Vec<&String> = requests
            .iter()
            .filter(|u| !u.starts_with(&format!("{origin}/")))
            .collect();
        assert!(foreign.is_empty(), "{name}: requests left for {foreign:?}");
        for wanted in ["/docs/reference.js", "/docs/json"] {
            let url = format!("{origin}{base}{wanted}");
            assert!(
                requests.contains(&url),
                "{name}: no request for {url}: {requests:?}"
            );
        }

        let shot = shots.join(format!("api-reference-{name}.png"));
        let _ = std::fs::remove_file(&shot);
        chromium_run(
            &chromium,
            &url,
            vec![format!("--screenshot={}", shot.display())],
        )
        .await;
        let png = std::fs::read(&shot).expect("screenshot written");
        assert!(
            png.starts_with(b"\x89PNG") && png.len() > 10_000,
            "{name}: screenshot"
        );
    }
}
