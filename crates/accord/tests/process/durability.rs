//! Nothing acknowledged is ever lost (DESIGN principle 4): the real `accord serve` takes
//! concurrent consent-event creates, is killed with SIGKILL mid-load, restarts on the same
//! database, and still holds every event it answered 201 for; and no identity a request
//! created is there without the events of that request (§4.3). SQLite and PostgreSQL.
use crate::common::{bootstrap_of, database, free_port, serve, stop, Served};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CLIENTS: usize = 32;
const EVENTS_PER_REQUEST: usize = 3;
const LOAD: Duration = Duration::from_secs(2);

fn event(email: &str, n: usize) -> Value {
    let state = ["implied", "viewed", "accepted"][n % 3];
    json!({"email": email, "consentState": state, "consentAction": "implied",
        "category": "disclosure", "subcategory": ["privacy_policy"], "label": "privacy_policy"})
}

async fn acknowledged_events_survive_sigkill(postgres: bool) {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = database(postgres, dir.path()).await else {
        return;
    };
    let port = free_port();
    let args = ["--database", db.as_str()];
    let start = || {
        serve(
            dir.path(),
            port,
            &args,
            &[("ACCORD_RATE_LIMIT_PRIVACY", "0")],
        )
    };
    let Served {
        mut child, lines, ..
    } = start().await;
    assert_eq!(lines.len(), 3, "bootstrap lines: {lines:?}");
    let (key, org, project) = bootstrap_of(&lines);
    let events = Arc::new(format!(
        "http://127.0.0.1:{port}/privacy-v1/organizations/{org}/projects/{project}/consent-events"
    ));
    let key = Arc::new(key);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();

    let stop_at = Instant::now() + LOAD;
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let (client, url, key) = (client.clone(), events.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            let mut other = 0usize;
            // Clients keep sending past the kill; the failures there are expected.
            for r in 0.. {
                if Instant::now() > stop_at + Duration::from_millis(500) {
                    break;
                }
                let email = format!("c{c}-r{r}@example.com");
                let items: Vec<Value> = (0..EVENTS_PER_REQUEST).map(|n| event(&email, n)).collect();
                let res = client
                    .post(url.as_str())
                    .header("x-api-key", key.as_str())
                    .json(&json!({ "items": items }))
                    .send()
                    .await;
                let Ok(res) = res else {
                    other += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                };
                if res.status().as_u16() != 201 {
                    other += 1;
                    continue;
                }
                // Only a complete 201 body counts as acknowledged.
                let Ok(body) = res.json::<Value>().await else {
                    other += 1;
                    continue;
                };
                for item in body["items"].as_array().unwrap() {
                    acked.push(item["id"].as_str().unwrap().to_string());
                }
            }
            (acked, other)
        }));
    }
    // Kill mid-load: the clients are still sending.
    tokio::time::sleep(LOAD).await;
    stop(&mut child, "-KILL");
    let mut acked = Vec::new();
    let mut failed = 0;
    for t in tasks {
        let (a, o) = t.await.unwrap();
        acked.extend(a);
        failed += o;
    }
    eprintln!(
        "{}: {} events acknowledged before SIGKILL, {failed} requests failed around the kill",
        if postgres { "postgres" } else { "sqlite" },
        acked.len()
    );
    assert!(!acked.is_empty(), "no event was acknowledged under load");

    let Served {
        mut child, lines, ..
    } = start().await;
    assert!(lines.is_empty(), "no second bootstrap: {lines:?}");
    let list_all = |url: String| {
        let (client, key) = (client.clone(), key.clone());
        async move {
            let mut all = Vec::new();
            for offset in (0..).step_by(1000) {
                let res = client
                    .get(format!("{url}?offset={offset}&limit=1000"))
                    .header("x-api-key", key.as_str())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), 200);
                let body: Value = res.json().await.unwrap();
                let items = body["items"].as_array().unwrap().clone();
                let last = items.len() < 1000;
                all.extend(items);
                if last {
                    break;
                }
            }
            all
        }
    };
    let stored_events = list_all(events.to_string()).await;
    let stored: HashSet<String> = stored_events
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect();
    let mut events_of: HashMap<&str, usize> = HashMap::new();
    for e in &stored_events {
        *events_of
            .entry(e["concordId"].as_str().unwrap())
            .or_default() += 1;
    }
    // Each request names a new person: its identity exists with all its events, or neither.
    let identities = list_all(events.replace("/consent-events", "/identities")).await;
    let incomplete: Vec<(&str, usize)> = identities
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .map(|id| (id, events_of.get(id).copied().unwrap_or(0)))
        .filter(|(_, n)| *n != EVENTS_PER_REQUEST)
        .collect();
    let mut missing = Vec::new();
    for id in acked.iter().filter(|id| !stored.contains(*id)) {
        // Confirm with the single read before calling it lost.
        let res = client
            .get(format!("{events}/{id}"))
            .header("x-api-key", key.as_str())
            .send()
            .await
            .unwrap();
        if res.status() != 200 {
            missing.push(id.clone());
        }
    }
    stop(&mut child, "-KILL");
    assert!(
        incomplete.is_empty(),
        "{} of {} identities lack events of their request after restart: {:?}",
        incomplete.len(),
        identities.len(),
        &incomplete[..incomplete.len().min(10)]
    );
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged events are missing after restart: {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(10)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_events_survive_sigkill_sqlite() {
    acknowledged_events_survive_sigkill(false).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_events_survive_sigkill_postgres() {
    acknowledged_events_survive_sigkill(true).await
}
