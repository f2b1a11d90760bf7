//! Group commit of consent events (DESIGN principle 4): concurrent creates are all
//! acknowledged after commit and all stored; a full queue answers 503 with `Retry-After`
//! and stores nothing of that call; an identity a request creates is committed with its
//! events, never without them.
use crate::both;
use crate::common::*;
use accord_api::ingest::{Ingest, BUSY};
use accord_api::ApiConfig;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

both!(
    concurrent_creates_are_all_stored,
    full_queue_answers_503,
    identities_commit_with_their_events
);

fn event(email: &str) -> Value {
    json!({"email": email, "consentState": "implied", "consentAction": "implied",
        "category": "disclosure", "subcategory": ["privacy_policy"], "label": "privacy_policy"})
}

async fn total(s: &Server) -> u64 {
    let (status, body) = s.get(&s.project_path("/consent-events?pageSize=1")).await;
    assert_eq!(status, 200, "{body}");
    body["total"].as_u64().expect("total")
}

async fn concurrent_creates_are_all_stored(b: accord_store::Backend) {
    let s = Arc::new(start(b).await);
    let mut tasks = Vec::new();
    for c in 0..24 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for r in 0..3 {
                let email = format!("c{c}-r{r}@example.com");
                let items = vec![event(&email), event(&email), event(&email)];
                let body = record_consent(&s, items).await;
                for item in body["items"].as_array().unwrap() {
                    ids.push(item["id"].as_str().unwrap().to_string());
                }
            }
            ids
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.extend(t.await.unwrap());
    }
    assert_eq!(ids.len(), 24 * 3 * 3);
    assert_eq!(total(&s).await, ids.len() as u64);
    for id in ids.iter().step_by(17) {
        let (status, body) = s
            .get(&s.project_path(&format!("/consent-events/{id}")))
            .await;
        assert_eq!(status, 200, "{body}");
    }
}

async fn full_queue_answers_503(b: accord_store::Backend) {
    let (ingest, paused) = Ingest::paused(1);
    let config = ApiConfig {
        rate_limit_privacy: 0,
        ..Default::default()
    };
    let s = Arc::new(start_with_ingest(b, config, Some(ingest.clone())).await);
    // The first call fills the queue and waits for the (paused) writer.
    let first = {
        let s = s.clone();
        tokio::spawn(async move {
            s.post(
                &s.project_path("/consent-events"),
                json!({"items": [event("first@example.com")]}),
            )
            .await
        })
    };
    for _ in 0..500 {
        if ingest.queued() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(ingest.queued(), 1);
    let res = s
        .req(reqwest::Method::POST, &s.project_path("/consent-events"))
        .json(&json!({"items": [event("second@example.com"), event("second@example.com")]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 503);
    assert_eq!(res.headers()["retry-after"], "1");
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body,
        json!({"statusCode": 503, "error": "Service Unavailable", "message": BUSY})
    );
    // Nothing was acknowledged, nothing is stored before the writer commits.
    assert!(!first.is_finished());
    assert_eq!(total(&s).await, 0);
    paused.resume(s.store.clone());
    let (status, body) = first.await.unwrap();
    assert_eq!(status, 201, "{body}");
    assert_eq!(total(&s).await, 1);
}

async fn identities_named(s: &Server, email: &str) -> Vec<Value> {
    let (status, body) = s
        .get(&s.project_path(&format!("/identities?email={email}")))
        .await;
    assert_eq!(status, 200, "{body}");
    body["items"].as_array().expect("items").clone()
}

async fn wait_queued(ingest: &Ingest, n: usize) {
    for _ in 0..500 {
        if ingest.queued() == n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(ingest.queued(), n);
}

/// Two requests naming new persons wait in one batch; the consent type of one is deleted
/// meanwhile. Neither identity exists before the batch commits, the failed request leaves
/// no identity behind, and the other one's identity comes with its events.
async fn identities_commit_with_their_events(b: accord_store::Backend) {
    let (ingest, paused) = Ingest::paused(8);
    let config = ApiConfig {
        rate_limit_privacy: 0,
        ..Default::default()
    };
    let s = Arc::new(start_with_ingest(b, config, Some(ingest.clone())).await);
    let (status, fleeting) = s
        .post(
            &s.project_path("/consent-types"),
            json!({"category": "communication", "subcategory": ["email"], "label": "fleeting", "name": "Fleeting"}),
        )
        .await;
    assert_eq!(status, 201, "{fleeting}");
    let type_id = fleeting["id"].as_str().unwrap().to_string();
    let post = |items: Value| {
        let s = s.clone();
        tokio::spawn(async move {
            s.post(
                &s.project_path("/consent-events"),
                json!({ "items": items }),
            )
            .await
        })
    };
    let doomed = post(
        json!([{"email": "doomed@example.com", "consentType": type_id,
        "consentState": "accepted", "consentAction": "user_click"}]),
    );
    wait_queued(&ingest, 1).await;
    let kept = post(json!([
        event("kept@example.com"),
        event("kept@example.com")
    ]));
    wait_queued(&ingest, 2).await;
    assert!(identities_named(&s, "doomed@example.com").await.is_empty());
    assert!(identities_named(&s, "kept@example.com").await.is_empty());

    let (status, body) = s
        .delete(&s.project_path(&format!("/consent-types/{type_id}")))
        .await;
    assert_eq!(status, 200, "{body}");
    paused.resume(s.store.clone());

    let (status, body) = doomed.await.unwrap();
    assert_eq!(
        (status, body),
        (
            422,
            json!({"statusCode": 422, "error": "Unprocessable Entity",
                "message": accord_core::consent::TYPE_NOT_FOUND})
        )
    );
    assert!(identities_named(&s, "doomed@example.com").await.is_empty());
    let (status, body) = kept.await.unwrap();
    assert_eq!(status, 201, "{body}");
    let identities = identities_named(&s, "kept@example.com").await;
    assert_eq!(identities.len(), 1, "{identities:?}");
    for item in body["items"].as_array().unwrap() {
        assert_eq!(item["concordId"], identities[0]["id"], "{body}");
    }
    assert_eq!(total(&s).await, 2);
}

/// On SQLite the write-ahead log is copied into the database file by a thread of its own,
/// not by the writer's commits (which only do so past 16,000 pages): shortly after a few
/// writes, the database file alone, read without its log, holds them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_is_checkpointed_apart_from_the_writer() {
    use sqlx::Connection;
    let s = start(accord_store::Backend::Sqlite).await;
    for r in 0..3 {
        let email = format!("log-{r}@example.com");
        record_consent(&s, (0..50).map(|_| event(&email)).collect()).await;
    }
    // The file without its log: a copy of it alone.
    let copies = tempfile::tempdir().unwrap();
    let copy = copies.path().join("copy.db");
    let in_file = || async {
        std::fs::copy(s.dir.path().join("accord.db"), &copy).unwrap();
        let mut conn = sqlx::AnyConnection::connect(&format!("sqlite://{}", copy.display()))
            .await
            .unwrap();
        let n: Result<i64, _> = sqlx::query_scalar("SELECT COUNT(*) FROM consent_events")
            .fetch_one(&mut conn)
            .await;
        let _ = conn.close().await;
        n.unwrap_or(0)
    };
    let started = std::time::Instant::now();
    let mut n = in_file().await;
    while n < 150 && started.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        n = in_file().await;
    }
    assert_eq!(
        n,
        150,
        "events in the database file after {:?}",
        started.elapsed()
    );
}
