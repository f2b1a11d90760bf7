//! Memory is bounded by the body budget, not by what clients send: a real `accord serve`
//! takes 32 clients sending 16 MiB JSON bodies and 8 clients uploading ten 10 MiB files at
//! once, answers every request with 201, 413 or 503 with `Retry-After` (a client told 503
//! tries again after the pause it was given, a few times), and its peak resident memory
//! (`VmHWM`, read from /proc) stays under 200 MB. SQLite and PostgreSQL.
use crate::common::{bootstrap_of, database, free_port, serve, stop, Served};
use bytes::Bytes;
use serde_json::{json, Value};
use std::time::Duration;

const JSON_CLIENTS: usize = 32;
const UPLOAD_CLIENTS: usize = 8;
const JSON_BYTES: usize = 16 * 1024 * 1024;
const FILE_BYTES: usize = 10 * 1024 * 1024;
const FILES: usize = 10;
const ATTEMPTS: usize = 4;
const PEAK_LIMIT_KB: u64 = 200 * 1000;

/// A compliance-request create padded with spaces to the Privacy API's body limit.
fn json_body() -> Bytes {
    let mut body =
        json!({"request": "view", "userEmail": "memory@example.com", "preverified": true})
            .to_string()
            .into_bytes();
    body.resize(JSON_BYTES, b' ');
    Bytes::from(body)
}

/// Ten full files in one multipart body.
fn upload_body() -> Bytes {
    let mut body = Vec::with_capacity(FILES * (FILE_BYTES + 200));
    for i in 0..FILES {
        body.extend_from_slice(
            format!(
                "--MemBoundary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"part-{i}.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.resize(body.len() + FILE_BYTES, b'0' + i as u8);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"--MemBoundary--\r\n");
    Bytes::from(body)
}

/// Peak resident set of a process in kB.
fn peak_rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/<pid>/status")
}

/// Sends one request, again after `Retry-After` while it is answered 503; returns every
/// status it received, or the transport error that dropped it.
async fn send_until_served(
    client: reqwest::Client,
    url: String,
    key: String,
    content_type: &'static str,
    body: Bytes,
) -> Result<Vec<u16>, String> {
    let mut statuses = Vec::new();
    for _ in 0..ATTEMPTS {
        let res = client
            .post(&url)
            .header("x-api-key", &key)
            .header("content-type", content_type)
            .body(body.clone())
            .send()
            .await
            .map_err(|e| format!("dropped: {e:?}"))?;
        let status = res.status().as_u16();
        let retry = res
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let text = res.text().await.map_err(|e| format!("body dropped: {e}"))?;
        statuses.push(status);
        match (status, retry) {
            (503, Some(secs)) => tokio::time::sleep(Duration::from_secs(secs)).await,
            (503, None) => return Err(format!("503 without Retry-After: {text}")),
            _ => break,
        }
    }
    Ok(statuses)
}

async fn memory_stays_bounded_under_large_bodies(postgres: bool) {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = database(postgres, dir.path()).await else {
        return;
    };
    let port = free_port();
    let Served {
        mut child, lines, ..
    } = serve(
        dir.path(),
        port,
        &["--database", db.as_str()],
        &[("ACCORD_RATE_LIMIT_PRIVACY", "0")],
    )
    .await;
    let (key, org, project) = bootstrap_of(&lines);
    let base = format!("http://127.0.0.1:{port}/privacy-v1/organizations/{org}/projects/{project}");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()
        .unwrap();
    let mut requests = Vec::new();
    for i in 0..UPLOAD_CLIENTS {
        let res = client
            .post(format!("{base}/compliance-requests"))
            .header("x-api-key", &key)
            .json(&json!({"request": "view", "userEmail": format!("u{i}@example.com"), "preverified": true}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        requests.push(
            res.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let (json, upload) = (json_body(), upload_body());
    let mut tasks = Vec::new();
    for _ in 0..JSON_CLIENTS {
        let url = format!("{base}/compliance-requests");
        let work = send_until_served(
            client.clone(),
            url,
            key.clone(),
            "application/json",
            json.clone(),
        );
        tasks.push(("json", tokio::spawn(work)));
    }
    for id in &requests {
        let url = format!("{base}/compliance-requests/{id}/files");
        let ct = "multipart/form-data; boundary=MemBoundary";
        let work = send_until_served(client.clone(), url, key.clone(), ct, upload.clone());
        tasks.push(("upload", tokio::spawn(work)));
    }
    let (mut stored_json, mut stored_uploads, mut busy) = (0, 0, 0);
    for (kind, task) in tasks {
        let statuses = task
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
        for s in &statuses {
            assert!([201, 413, 503].contains(s), "{kind} answered {s}");
        }
        busy += statuses.iter().filter(|s| **s == 503).count();
        if statuses.last() == Some(&201) {
            match kind {
                "json" => stored_json += 1,
                _ => stored_uploads += 1,
            }
        }
    }
    let peak = peak_rss_kb(child.id());
    eprintln!(
        "{}: peak RSS {peak} kB; {stored_json}/{JSON_CLIENTS} JSON bodies and {stored_uploads}/{UPLOAD_CLIENTS} uploads stored, {busy} answers 503",
        if postgres { "postgres" } else { "sqlite" },
    );
    let files_on_disk = walk(&dir.path().join("accord-data/files"));
    stop(&mut child, "-TERM");
    assert!(
        peak < PEAK_LIMIT_KB,
        "peak RSS {peak} kB is over {PEAK_LIMIT_KB} kB"
    );
    assert!(
        stored_json > 0 && stored_uploads > 0,
        "the server still serves under the load"
    );
    assert_eq!(
        files_on_disk,
        stored_uploads * FILES,
        "no refused part stays behind"
    );
}

/// Files under a folder (uploads in progress leave `#n` staging files, which count too).
fn walk(p: &std::path::Path) -> usize {
    std::fs::read_dir(p)
        .map(|d| {
            d.flatten()
                .map(|e| {
                    if e.path().is_dir() {
                        walk(&e.path())
                    } else {
                        1
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stays_bounded_under_large_bodies_sqlite() {
    memory_stays_bounded_under_large_bodies(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stays_bounded_under_large_bodies_postgres() {
    memory_stays_bounded_under_large_bodies(true).await;
}
