//! Consent-event ingestion (DESIGN principle 4): Privacy API creates of 100 events per
//! request, and Site API creates of one event per request against the health endpoint of
//! the same run.
use crate::http::{self, Conn};
use crate::load::{self, MakeRequest};
use crate::server::Server;
use crate::{check_errors, emit, round, CpuMeter};
use anyhow::{bail, Result};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// Events per Privacy API request.
pub const PRIVACY_BATCH: usize = 100;
/// Target of Privacy API ingestion on SQLite, events/s.
pub const PRIVACY_TARGET_EPS: f64 = 100_000.0;
/// Connections of the Site API measurement.
pub const SITE_CONNECTIONS: usize = 64;
/// Target ratio of site consent-event creates to health requests.
pub const SITE_TARGET_RATIO: f64 = 0.4;

const EVENT: &str = r#""consentState":"implied","consentAction":"implied","category":"disclosure","subcategory":["privacy_policy"],"label":"privacy_policy""#;

pub async fn measure(
    database: &str,
    srv: &Server,
    duration: Duration,
    connections: &[usize],
) -> Result<()> {
    let addr = srv.addr;
    let boot = srv.boot.clone();
    let path = format!(
        "/privacy-v1/organizations/{}/projects/{}/consent-events",
        boot.organization_id, boot.project_id
    );
    let health_req = Arc::new(http::request("GET", "/privacy-v1/health", None, None));
    let health_make: MakeRequest = {
        let h = health_req.clone();
        Arc::new(move |_, _| h.to_vec())
    };
    load::closed_loop(addr, 16, Duration::from_secs(1), 200, health_make.clone()).await?;

    // Privacy API: 100 events per request, 20 identities per connection (they exist after
    // the first round, as for a steady stream of returning users).
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    for &conns in connections {
        eprintln!(
            "  consent privacy create ({PRIVACY_BATCH} events), {conns} connections, {} s",
            duration.as_secs()
        );
        let make: MakeRequest = {
            let (path, key, run_id) = (path.clone(), boot.api_key.clone(), run_id.clone());
            Arc::new(move |worker, seq| {
                let email = format!("consent-{run_id}-w{worker}-{}@example.com", seq % 20);
                let items: Vec<String> = (0..PRIVACY_BATCH)
                    .map(|_| format!(r#"{{"email":"{email}",{EVENT}}}"#))
                    .collect();
                let body = format!(r#"{{"items":[{}]}}"#, items.join(","));
                http::request("POST", &path, Some(&key), Some(&body))
            })
        };
        let cpu = CpuMeter::start(srv.pid);
        let o = load::closed_loop(addr, conns, duration, 201, make).await?;
        let (s_cpu, c_cpu) = cpu.stop();
        check_errors("consent privacy create", &o)?;
        let eps = o.rps() * PRIVACY_BATCH as f64;
        emit(json!({
            "bench": "consent_privacy_create",
            "database": database,
            "connections": conns,
            "events_per_request": PRIVACY_BATCH,
            "duration_s": round(o.elapsed.as_secs_f64(), 2),
            "requests": o.ok,
            "errors": o.errors,
            "rps": round(o.rps(), 1),
            "events_per_s": round(eps, 0),
            "p50_ms": round(o.p50_ms(), 3),
            "p99_ms": round(o.p99_ms(), 3),
            "target_events_per_s": PRIVACY_TARGET_EPS,
            "pass": eps >= PRIVACY_TARGET_EPS,
            "server_cpu": s_cpu,
            "loadgen_cpu": c_cpu,
        }));
    }

    // Site API: one session per connection, one event per request.
    let conns = SITE_CONNECTIONS;
    let mut tokens = Vec::with_capacity(conns);
    let mut conn = Conn::new(addr);
    let mint = http::request(
        "POST",
        &format!("/site-v1/{}/session", boot.project_id),
        None,
        Some("{}"),
    );
    for _ in 0..conns {
        let r = conn.send(&mint, true).await?;
        if r.status != 201 {
            bail!(
                "site session: status {}: {}",
                r.status,
                String::from_utf8_lossy(&r.body)
            );
        }
        let v: Value = serde_json::from_slice(&r.body)?;
        tokens.push(v["session"].as_str().unwrap_or_default().to_string());
    }
    eprintln!(
        "  health, {conns} connections, {} s (site baseline)",
        duration.as_secs()
    );
    let cpu = CpuMeter::start(srv.pid);
    let h = load::closed_loop(addr, conns, duration, 200, health_make).await?;
    let (h_srv, h_cli) = cpu.stop();
    check_errors("health", &h)?;
    emit(json!({
        "bench": "health",
        "database": database,
        "connections": conns,
        "duration_s": round(h.elapsed.as_secs_f64(), 2),
        "requests": h.ok,
        "errors": h.errors,
        "rps": round(h.rps(), 1),
        "p50_ms": round(h.p50_ms(), 3),
        "p99_ms": round(h.p99_ms(), 3),
        "server_cpu": h_srv,
        "loadgen_cpu": h_cli,
    }));
    eprintln!(
        "  consent site create (1 event), {conns} connections, {} s",
        duration.as_secs()
    );
    let site_path = format!("/site-v1/{}/consent-events", boot.project_id);
    let body = format!(r#"{{"items":[{{{EVENT}}}]}}"#);
    let reqs: Arc<Vec<Vec<u8>>> = Arc::new(
        tokens
            .iter()
            .map(|t| {
                format!(
                    "POST {site_path} HTTP/1.1\r\nhost: 127.0.0.1\r\naccept: application/json\r\nx-session: {t}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                )
                .into_bytes()
            })
            .collect(),
    );
    let make: MakeRequest = Arc::new(move |worker, _| reqs[worker % reqs.len()].clone());
    let cpu = CpuMeter::start(srv.pid);
    let o = load::closed_loop(addr, conns, duration, 201, make).await?;
    let (s_cpu, c_cpu) = cpu.stop();
    check_errors("consent site create", &o)?;
    let ratio = o.rps() / h.rps().max(f64::MIN_POSITIVE);
    emit(json!({
        "bench": "consent_site_create",
        "database": database,
        "connections": conns,
        "events_per_request": 1,
        "duration_s": round(o.elapsed.as_secs_f64(), 2),
        "requests": o.ok,
        "errors": o.errors,
        "events_per_s": round(o.rps(), 1),
        "p50_ms": round(o.p50_ms(), 3),
        "p99_ms": round(o.p99_ms(), 3),
        "baseline_health_rps": round(h.rps(), 1),
        "ratio": round(ratio, 4),
        "target_ratio": SITE_TARGET_RATIO,
        "pass": ratio >= SITE_TARGET_RATIO,
        "server_cpu": s_cpu,
        "loadgen_cpu": c_cpu,
    }));
    Ok(())
}
