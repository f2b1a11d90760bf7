//! Record of processing (§6.6): an organization with 200 data systems and 2,000 attributes,
//! seeded through the Privacy API, then `GET …/records-of-processing` as JSON and as CSV,
//! sequentially, next to the health endpoint of the same run. Target: under 1 s.
use crate::http::{self, Conn};
use crate::load;
use crate::server::Server;
use crate::{check_errors, emit, round};
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Data systems seeded.
pub const SYSTEMS: usize = 200;
/// Attributes created (the organization's 22 predefined values come on top).
pub const ATTRIBUTES: usize = 2000;
/// Target of one record of processing, milliseconds.
pub const TARGET_MS: f64 = 1000.0;

/// `(kind path, attributes created, links per data system)`; the counts add up to
/// [`ATTRIBUTES`].
const KINDS: &[(&str, usize, usize)] = &[
    ("processing-activities", 100, 2),
    ("processing-purposes", 300, 4),
    ("data-subjects", 200, 3),
    ("data-categories", 600, 10),
    ("security-measures", 300, 4),
    ("contacts", 200, 2),
    ("destinations", 150, 2),
    ("origins", 150, 2),
];

/// The field of a data-system body that links attributes of a kind.
fn system_field(kind: &str) -> &'static str {
    match kind {
        "processing-activities" => "processingActivities",
        "processing-purposes" => "dataSystemProcessingPurposes",
        "data-subjects" => "dataSystemDataSubjects",
        "data-categories" => "dataSystemDataCategories",
        "security-measures" => "dataSystemSecurityMeasures",
        "contacts" => "dataSystemContacts",
        "destinations" => "dataSystemDestinations",
        _ => "dataSystemOrigins",
    }
}

async fn call(
    conn: &mut Conn,
    method: &str,
    path: &str,
    key: &str,
    body: Option<&Value>,
) -> Result<Value> {
    let text = body.map(Value::to_string);
    let req = http::request(method, path, Some(key), text.as_deref());
    let res = conn.send(&req, true).await?;
    if !(200..300).contains(&res.status) {
        bail!(
            "{method} {path}: status {}: {}",
            res.status,
            String::from_utf8_lossy(&res.body)
        );
    }
    serde_json::from_slice(&res.body).with_context(|| format!("{method} {path}: body"))
}

fn ids(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|i| i["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Seeds the data map through the API; returns the seconds it took.
async fn seed(srv: &Server) -> Result<f64> {
    let t0 = Instant::now();
    let boot = &srv.boot;
    let key = boot.api_key.as_str();
    let org = format!("/privacy-v1/organizations/{}", boot.organization_id);
    let mut conn = Conn::new(srv.addr);
    let types = call(
        &mut conn,
        "GET",
        &format!("{org}/data-system-attributes?attributeName=dataSystemContactTypes"),
        key,
        None,
    )
    .await?;
    let contact_types = ids(&types);
    let relationships = ids(&call(
        &mut conn,
        "GET",
        &format!("{org}/data-system-relationships"),
        key,
        None,
    )
    .await?);
    let mut created: Vec<(&str, Vec<String>, usize)> = Vec::new();
    for &(kind, count, per_system) in KINDS {
        let mut kind_ids = Vec::with_capacity(count);
        for i in 0..count {
            let mut body = json!({"name": format!("{kind} {i:04}"), "status": "active",
                "description": format!("Seeded {kind} number {i}, for the record-of-processing benchmark")});
            match kind {
                "contacts" => {
                    body["email"] = json!(format!("contact{i}@example.com"));
                    body["phoneNumber"] = json!(format!("+1 555 {i:04}"));
                    body["contactType"] = json!(contact_types[i % contact_types.len()]);
                }
                "data-categories" => {
                    body["pIIType"] = json!(["none", "standard", "sensitive"][i % 3]);
                }
                _ => {}
            }
            let a = call(
                &mut conn,
                "POST",
                &format!("{org}/data-system-{kind}"),
                key,
                Some(&body),
            )
            .await?;
            kind_ids.push(a["id"].as_str().context("attribute id")?.to_string());
        }
        created.push((kind, kind_ids, per_system));
    }
    eprintln!(
        "  seeded {ATTRIBUTES} attributes in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    for s in 0..SYSTEMS {
        let mut body = json!({"name": format!("System {s:03}"), "status": "active",
            "crossBorder": s % 3 == 0, "retention": format!("P{}Y", 1 + s % 7),
            "projectIds": [boot.project_id], "dataSystemRelationship": relationships[s % relationships.len()]});
        for (kind, kind_ids, per_system) in &created {
            let linked: Vec<&String> = (0..*per_system)
                .map(|j| &kind_ids[(s * per_system + j * 7) % kind_ids.len()])
                .collect();
            body[system_field(kind)] = json!(linked);
        }
        call(
            &mut conn,
            "POST",
            &format!("{org}/data-systems"),
            key,
            Some(&body),
        )
        .await?;
    }
    Ok(t0.elapsed().as_secs_f64())
}

pub async fn measure(database: &str, srv: &Server, requests: usize) -> Result<()> {
    eprintln!("  datamap: seeding {SYSTEMS} data systems and {ATTRIBUTES} attributes");
    let seed_s = seed(srv).await?;
    let boot = &srv.boot;
    let org = format!("/privacy-v1/organizations/{}", boot.organization_id);
    let cap = Duration::from_secs(60);
    let health = http::request("GET", "/privacy-v1/health", None, None);
    let (h, _) = load::repeated(srv.addr, health, 1, requests, 5, cap).await?;
    check_errors("health", &h)?;
    emit(json!({
        "bench": "datamap_baseline_health",
        "database": database,
        "requests": h.ok,
        "p50_ms": round(h.p50_ms(), 3),
        "p99_ms": round(h.p99_ms(), 3),
    }));
    for (name, path) in [
        (
            "records_of_processing_json",
            format!("{org}/records-of-processing"),
        ),
        (
            "records_of_processing_csv",
            format!("{org}/records-of-processing?format=csv"),
        ),
        (
            "data_systems_list",
            format!("{org}/data-systems?limit=100&sort=name&order=asc"),
        ),
    ] {
        eprintln!("  {name}: {requests} requests");
        let req = http::request("GET", &path, Some(&boot.api_key), None);
        let (o, first) = load::repeated(srv.addr, req, 1, requests, 3, cap).await?;
        check_errors(name, &o)?;
        let items = if name == "records_of_processing_csv" {
            // Header row excluded; quoted fields hold no line breaks here.
            String::from_utf8_lossy(&first)
                .lines()
                .count()
                .saturating_sub(1)
        } else {
            let v: Value = serde_json::from_slice(&first).context("json body")?;
            v["items"].as_array().map_or(0, Vec::len)
        };
        let is_record = name.starts_with("records_of_processing");
        emit(json!({
            "bench": name,
            "database": database,
            "data_systems": SYSTEMS,
            "attributes": ATTRIBUTES,
            "items": items,
            "bytes": first.len(),
            "requests": o.ok,
            "errors": o.errors,
            "p50_ms": round(o.p50_ms(), 3),
            "p99_ms": round(o.p99_ms(), 3),
            "max_ms": round(o.max_ms(), 3),
            "baseline_health_p50_ms": round(h.p50_ms(), 3),
            "target_ms": if is_record { json!(TARGET_MS) } else { Value::Null },
            "pass": if is_record { json!(o.p99_ms() < TARGET_MS) } else { Value::Null },
            "seed_s": round(seed_s, 1),
        }));
    }
    Ok(())
}
