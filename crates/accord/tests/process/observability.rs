//! What an operator sees of a running server: one access-log line per request carrying its
//! request id, and the Prometheus metrics on their own address.
use crate::common::{bootstrap_of, database, free_port, serve, stop, Served};
use serde_json::{json, Value};
use std::time::Duration;

async fn metrics_and_access_log(postgres: bool) {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = database(postgres, dir.path()).await else {
        return;
    };
    let port = free_port();
    let metrics_port = free_port();
    let metrics_addr = format!("127.0.0.1:{metrics_port}");
    let Served {
        mut child,
        lines,
        stderr,
    } = serve(
        dir.path(),
        port,
        &["--database", &db, "--metrics-listen", &metrics_addr],
        &[("ACCORD_LOG", "info")],
    )
    .await;
    let (key, org, project) = bootstrap_of(&lines);
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let res = client
        .get(format!("{base}/privacy-v1/health"))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-request-id"], "trace-me-42");
    let events = format!("{base}/privacy-v1/organizations/{org}/projects/{project}/consent-events");
    let res = client
        .post(&events)
        .header("x-api-key", &key)
        .json(&json!({"items": [{"email": "m@example.com", "consentState": "implied", "consentAction": "implied",
            "category": "disclosure", "subcategory": ["privacy_policy"], "label": "privacy_policy"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let res = client
        .get(format!("{base}/privacy-v1/nothing"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    // The metrics listener answers on its own address only.
    let res = client.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 404);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let text = client
        .get(format!("http://{metrics_addr}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for series in [
        r#"accord_http_requests_total{method="GET",route="/privacy-v1/health",status="200"} "#,
        r#"accord_http_requests_total{method="POST",route="/privacy-v1/organizations/{organizationId}/projects/{projectId}/consent-events",status="201"} 1"#,
        r#"accord_http_requests_total{method="-",route="unmatched",status="404"} 2"#,
        r#"accord_http_request_duration_seconds_bucket{method="GET",route="/privacy-v1/health",status="200",le="0.005"}"#,
        "accord_ingest_queue_depth 0",
        "accord_body_memory_reserved_bytes 0",
        "accord_ingest_batch_events_count 1",
        "accord_outgoing_messages_backlog 0",
        r#"accord_db_pool_connections{pool="write",state="idle"}"#,
        r#"accord_db_pool_connections{pool="write",state="in_use"}"#,
        r#"accord_job_runs_total{job="outgoing_messages",outcome="ok"}"#,
        r#"accord_job_runs_total{job="file_purge",outcome="ok"}"#,
    ] {
        assert!(text.contains(series), "missing {series} in:\n{text}");
    }
    // One access-log line per request, with the request's id.
    let log: Vec<Value> = stderr
        .lock()
        .unwrap()
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let access = log
        .iter()
        .find(|l| {
            l["fields"]["route"] == "/privacy-v1/health" && l["span"]["request_id"] == "trace-me-42"
        })
        .unwrap_or_else(|| panic!("no access line for the health request: {log:?}"));
    assert_eq!(access["level"], "INFO");
    assert_eq!(access["fields"]["status"], 200);
    assert!(access["fields"]["duration_ms"].is_number());
    assert_eq!(access["span"]["method"], "GET");
    let created = log
        .iter()
        .filter(|l| l["fields"]["status"] == 201 && l["fields"]["message"] == "request")
        .count();
    assert_eq!(created, 1, "{log:?}");
    assert_eq!(stop(&mut child, "-TERM"), 0);
}

#[tokio::test]
async fn metrics_and_access_log_sqlite() {
    metrics_and_access_log(false).await
}

#[tokio::test]
async fn metrics_and_access_log_postgres() {
    metrics_and_access_log(true).await
}
