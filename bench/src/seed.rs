//! Seeds `compliance_requests` straight through SQL: multi-row INSERTs of
//! [`ROWS_PER_STATEMENT`] rows, [`STATEMENTS_PER_TX`] statements per transaction, with a
//! deterministic spread of types, statuses, dates, emails, names and notes.
use anyhow::{Context, Result};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Executor};
use std::time::Instant;

pub const ROWS_PER_STATEMENT: usize = 500;
pub const STATEMENTS_PER_TX: usize = 20;
/// Seeded rows reference this many shared identities (`concord_id`).
pub const IDENTITIES: usize = 100;
const DAY_MS: i64 = 86_400_000;
/// `request_date` spans this many days, ending now.
pub const SPAN_DAYS: i64 = 730;

/// One surname in [`LAST_NAMES`] that the `text` filter looks for (about 1% of rows).
pub const TEXT_NEEDLE: &str = "okafor";

const FIRST_NAMES: &[&str] = &[
    "Ada", "Ben", "Chloe", "Dmitri", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemi",
    "Liam", "Maya", "Noah", "Olga", "Pedro", "Qi", "Rosa", "Sami", "Tara", "Uma", "Victor", "Wen",
    "Ximena", "Yusuf", "Zoe", "Anton", "Bea", "Carlos", "Dana", "Emil", "Fatima", "Gus", "Hana",
    "Ivan", "Julia", "Kai", "Lena", "Marco", "Nina",
];

const LAST_NAMES: &[&str] = &[
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
    "Okafor",
    "Schmidt",
    "Muller",
    "Rossi",
    "Dubois",
    "Novak",
    "Kowalski",
    "Tanaka",
    "Sato",
    "Kim",
    "Park",
    "Chen",
    "Wang",
    "Singh",
    "Patel",
    "Khan",
    "Ali",
    "Ivanova",
    "Petrov",
    "Larsen",
    "Hansen",
    "Jensen",
    "Nielsen",
    "Berg",
    "Lind",
    "Costa",
    "Silva",
    "Santos",
    "Pereira",
    "Ferreira",
    "Moreau",
    "Laurent",
    "Fischer",
    "Weber",
    "Wagner",
    "Becker",
    "Hoffmann",
    "Bauer",
    "Richter",
    "Wolf",
    "Murphy",
    "Kelly",
    "Byrne",
    "Walsh",
    "Ryan",
    "Doyle",
    "Quinn",
    "Nolan",
    "Brennan",
    "Duffy",
];

const NOTES: &[&str] = &[
    "Customer called support about this request",
    "Escalated by the legal team",
    "Duplicate of an earlier request; kept for the record",
    "Requester asked for an update by email",
    "Account closed before the request arrived",
    "Identity confirmed over the phone",
    "Includes data from the loyalty program",
    "Follow up with the marketing vendor",
];

const DETAILS: &[&str] = &[
    "Please send me everything you store about me",
    "Delete my account and all order history",
    "Stop selling my personal information",
    "My shipping address is wrong, please correct it",
    "Remove me from all mailing lists",
];

const RESOLUTIONS: &[&str] = &[
    "Export sent to the requester",
    "All records erased in every system",
    "No records found for this email",
    "Opt-out applied to all vendors",
];

/// Weighted picks: (value, weight in percent).
const REQUESTS: &[(&str, u32)] = &[
    ("view", 35),
    ("delete", 35),
    ("do_not_sell", 20),
    ("change", 10),
];
const STATUSES: &[(&str, u32)] = &[
    ("pending_verification", 10),
    ("submitted", 25),
    ("acknowledged", 25),
    ("resolved", 40),
];
const RESOLUTION_STATUSES: &[(&str, u32)] = &[
    ("completed", 70),
    ("no_records_found", 15),
    ("partially_completed", 10),
    ("rejected", 5),
];

fn pick<'a>(rng: &mut StdRng, table: &[(&'a str, u32)]) -> &'a str {
    let mut x = rng.gen_range(0..100);
    for (v, w) in table {
        if x < *w {
            return v;
        }
        x -= w;
    }
    table[table.len() - 1].0
}

enum V {
    S(String),
    OS(Option<String>),
    I(i64),
    OI(Option<i64>),
}

const COLUMNS: &[&str] = &[
    "id",
    "organization_id",
    "project_id",
    "concord_id",
    "request",
    "request_date",
    "request_details",
    "status",
    "resolution_status",
    "resolution",
    "notes",
    "domain",
    "domain_lower",
    "preverified",
    "user_email",
    "user_email_lower",
    "user_first_name",
    "user_last_name",
    "user_phone_number",
    "verification_method",
    "verified_date",
    "acknowledged_date",
    "resolved_date",
    "due_date",
    "due_date_extended",
    "tasks",
    "files",
    "search_text",
    "date_created",
    "date_updated",
];

/// What was seeded.
pub struct Seeded {
    pub rows: u64,
    /// Compliance-request events seeded with the requests.
    pub events: u64,
    /// A request in the middle of the seeded ones, for the event filter by request.
    pub sample_request: String,
    pub seconds: f64,
    /// Start of the one-month window the date filter uses (epoch ms), and its end.
    pub month: (i64, i64),
}

pub struct Target<'a> {
    pub url: &'a str,
    pub postgres: bool,
    pub organization_id: &'a str,
    pub project_id: &'a str,
}

fn time_ordered_id(ms: i64, rng: &mut StdRng) -> String {
    let ts = uuid::Timestamp::from_unix(
        uuid::NoContext,
        (ms / 1000) as u64,
        ((ms % 1000) * 1_000_000) as u32 + rng.gen_range(0..1_000_000),
    );
    uuid::Uuid::new_v7(ts).to_string()
}

/// The fixed inputs of row generation.
struct Gen<'a> {
    now: i64,
    start: i64,
    span: i64,
    rows: u64,
    ids: &'a [String],
    target: &'a Target<'a>,
}

fn row(g: &Gen, i: u64, rng: &mut StdRng) -> Vec<V> {
    let Gen {
        now,
        start,
        span,
        rows,
        ids,
        target: t,
    } = *g;
    let request_date =
        start + (i as i128 * span as i128 / rows.max(1) as i128) as i64 + rng.gen_range(0..60_000);
    let request = pick(rng, REQUESTS);
    let status = pick(rng, STATUSES);
    let email = format!("user{i}@example{}.com", i % 50);
    let first = FIRST_NAMES[rng.gen_range(0..FIRST_NAMES.len())];
    let last = LAST_NAMES[rng.gen_range(0..LAST_NAMES.len())];
    let phone = rng
        .gen_bool(0.4)
        .then(|| format!("+1555{:07}", rng.gen_range(0..10_000_000)));
    let notes = rng.gen_bool(0.3).then(|| {
        format!(
            "{} (ticket #{})",
            NOTES[rng.gen_range(0..NOTES.len())],
            rng.gen_range(1000..99999)
        )
    });
    let details = rng
        .gen_bool(0.5)
        .then(|| DETAILS[rng.gen_range(0..DETAILS.len())].to_string());
    let resolved = status == "resolved";
    let (resolution_status, resolution) = if resolved {
        (
            Some(pick(rng, RESOLUTION_STATUSES).to_string()),
            rng.gen_bool(0.6)
                .then(|| RESOLUTIONS[rng.gen_range(0..RESOLUTIONS.len())].to_string()),
        )
    } else {
        (None, None)
    };
    let preverified = rng.gen_bool(0.7);
    let verified = (status != "pending_verification")
        .then(|| (request_date + rng.gen_range(0..DAY_MS)).min(now));
    let acknowledged = matches!(status, "acknowledged" | "resolved")
        .then(|| (request_date + rng.gen_range(DAY_MS..3 * DAY_MS)).min(now));
    let resolved_date =
        resolved.then(|| (request_date + rng.gen_range(3 * DAY_MS..30 * DAY_MS)).min(now));
    let extended = rng.gen_bool(0.05);
    let due = request_date + if extended { 90 } else { 45 } * DAY_MS;
    let updated = [Some(request_date), verified, acknowledged, resolved_date]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(request_date);
    let search_text = [
        Some(email.as_str()),
        Some(first),
        Some(last),
        phone.as_deref(),
        notes.as_deref(),
        details.as_deref(),
        resolution.as_deref(),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join("\n")
    .to_lowercase();
    let domain = format!("shop{}.example.com", i % 5);
    vec![
        V::S(time_ordered_id(request_date, rng)),
        V::S(t.organization_id.to_string()),
        V::S(t.project_id.to_string()),
        V::S(ids[i as usize % ids.len()].clone()),
        V::S(request.to_string()),
        V::I(request_date),
        V::OS(details),
        V::S(status.to_string()),
        V::OS(resolution_status),
        V::OS(resolution),
        V::OS(notes),
        V::OS(Some(domain.clone())),
        V::OS(Some(domain)),
        V::I(preverified as i64),
        V::OS(Some(email.clone())),
        V::OS(Some(email)),
        V::OS(Some(first.to_string())),
        V::OS(Some(last.to_string())),
        V::OS(phone),
        V::OS(verified.map(|_| if preverified { "preverified" } else { "email" }.to_string())),
        V::OI(verified),
        V::OI(acknowledged),
        V::OI(resolved_date),
        V::I(due),
        V::I(extended as i64),
        V::S("[]".into()),
        V::S("[]".into()),
        V::S(search_text),
        V::I(request_date),
        V::I(updated),
    ]
}

fn insert_sql(postgres: bool, rows: usize) -> String {
    let mut sql = format!(
        "INSERT INTO compliance_requests ({}) VALUES ",
        COLUMNS.join(", ")
    );
    let mut n = 0;
    for r in 0..rows {
        if r > 0 {
            sql.push(',');
        }
        sql.push('(');
        for c in 0..COLUMNS.len() {
            if c > 0 {
                sql.push(',');
            }
            n += 1;
            if postgres {
                sql.push('$');
                sql.push_str(&n.to_string());
            } else {
                sql.push('?');
            }
        }
        sql.push(')');
    }
    sql
}

async fn connect(t: &Target<'_>) -> Result<AnyPool> {
    sqlx::any::install_default_drivers();
    let pool = AnyPoolOptions::new()
        .max_connections(1)
        .connect(t.url)
        .await
        .with_context(|| format!("seed connection to {}", t.url))?;
    if !t.postgres {
        pool.execute("PRAGMA busy_timeout=10000; PRAGMA cache_size=-262144;")
            .await?;
    }
    Ok(pool)
}

async fn seed_identities(pool: &AnyPool, t: &Target<'_>, now: i64) -> Result<Vec<String>> {
    let mut ids = Vec::with_capacity(IDENTITIES);
    let mut sql = String::from(
        "INSERT INTO identities (id, organization_id, project_id, email, email_lower, first_name, last_name, date_created, date_updated) VALUES ",
    );
    for k in 0..IDENTITIES {
        let id = uuid::Uuid::new_v4().to_string();
        if k > 0 {
            sql.push(',');
        }
        // Values are generated here (uuids, digits), never user input.
        sql.push_str(&format!(
            "('{id}','{org}','{proj}','seed-identity-{k}@example.org','seed-identity-{k}@example.org','Seed','Identity{k}',{now},{now})",
            org = t.organization_id,
            proj = t.project_id
        ));
        ids.push(id);
    }
    pool.execute(sql.as_str())
        .await
        .context("seed identities")?;
    Ok(ids)
}

/// Inserts `rows` compliance requests for the bootstrapped project.
pub async fn seed(t: &Target<'_>, rows: u64) -> Result<Seeded> {
    let pool = connect(t).await?;
    let now = chrono::Utc::now().timestamp_millis();
    let span = SPAN_DAYS * DAY_MS;
    let ids = seed_identities(&pool, t, now).await?;
    let mut rng = StdRng::seed_from_u64(0x5eed);
    let g = Gen {
        now,
        start: now - span,
        span,
        rows,
        ids: &ids,
        target: t,
    };
    let full_sql = insert_sql(t.postgres, ROWS_PER_STATEMENT);
    let began = Instant::now();
    let mut last_report = Instant::now();
    let mut i = 0u64;
    while i < rows {
        // SQLite: the write lock from the start, as the transaction reads before it writes.
        let mut tx = if t.postgres {
            pool.begin().await?
        } else {
            pool.begin_with("BEGIN IMMEDIATE").await?
        };
        // SQLite: the transaction's requests get their trigram index entries in one
        // statement before the commit, as the server writes them (migration 23).
        let after: i64 = if t.postgres {
            0
        } else {
            sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM compliance_requests")
                .fetch_one(&mut *tx)
                .await?
        };
        for _ in 0..STATEMENTS_PER_TX {
            if i >= rows {
                break;
            }
            let n = ROWS_PER_STATEMENT.min((rows - i) as usize);
            let partial;
            let sql = if n == ROWS_PER_STATEMENT {
                full_sql.as_str()
            } else {
                partial = insert_sql(t.postgres, n);
                partial.as_str()
            };
            let mut q = sqlx::query(sql);
            for k in 0..n as u64 {
                for v in row(&g, i + k, &mut rng) {
                    q = match v {
                        V::S(s) => q.bind(s),
                        V::OS(s) => q.bind(s),
                        V::I(x) => q.bind(x),
                        V::OI(x) => q.bind(x),
                    };
                }
            }
            q.execute(&mut *tx).await.context("seed insert")?;
            i += n as u64;
        }
        if !t.postgres {
            sqlx::query(
                "INSERT INTO compliance_requests_search \
                 (rowid, search_text, user_email_lower, notes, request_details, resolution, session_user_agent) \
                 SELECT seq, search_text, user_email_lower, notes, request_details, resolution, session_user_agent \
                 FROM compliance_requests WHERE seq > ?",
            )
            .bind(after)
            .execute(&mut *tx)
            .await
            .context("seed trigram index")?;
        }
        tx.commit().await?;
        if last_report.elapsed().as_secs() >= 10 {
            last_report = Instant::now();
            let s = began.elapsed().as_secs_f64();
            eprintln!("  seeded {i}/{rows} rows ({:.0} rows/s)", i as f64 / s);
        }
    }
    let seconds = began.elapsed().as_secs_f64();
    // The event lists' rows: each request's `created` event and, for each that left
    // pending verification, a `status_changed` event (ids derived from the request's).
    // Values are generated here (uuids, constants), never user input.
    let mut events = 0;
    for (prefix, event, offset, cond) in [
        ("e", "created", 0, "TRUE"),
        ("f", "status_changed", 1, "status <> 'pending_verification'"),
    ] {
        let sql = format!(
            "INSERT INTO compliance_request_events (id, compliance_request_id, organization_id, project_id, event, account_id, details, date_created) \
             SELECT '{prefix}' || substr(id, 2), id, organization_id, project_id, '{event}', NULL, '{{}}', date_created + {offset} \
             FROM compliance_requests WHERE project_id = '{proj}' AND {cond}",
            proj = t.project_id
        );
        events += pool
            .execute(sql.as_str())
            .await
            .context("seed events")?
            .rows_affected();
    }
    eprintln!("  seeded {events} compliance-request events");
    let sample_request: String = sqlx::query_scalar(&format!(
        "SELECT id FROM compliance_requests WHERE project_id = '{}' ORDER BY date_created LIMIT 1 OFFSET {}",
        t.project_id,
        rows / 2
    ))
    .fetch_one(&pool)
    .await
    .context("a seeded request")?;
    if t.postgres {
        // What autovacuum does shortly after a bulk load (statistics, and the visibility
        // map that lets index-only scans skip the table); without it the first plans and
        // reads depend on when autovacuum happens to run, or whether it is on at all.
        pool.execute("VACUUM (ANALYZE) compliance_requests").await?;
        pool.execute("VACUUM (ANALYZE) compliance_request_events")
            .await?;
    }
    pool.close().await;
    // One month a year ago: inside the seeded span, away from its edges.
    let month_start = now - 365 * DAY_MS;
    Ok(Seeded {
        rows,
        events,
        sample_request,
        seconds,
        month: (month_start, month_start + 30 * DAY_MS),
    })
}
