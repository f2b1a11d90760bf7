//! `accord-bench`: starts the release `accord` server on a fresh SQLite file and/or a fresh
//! PostgreSQL database and measures what DESIGN.md's performance targets name:
//! compliance-request create throughput against the health endpoint of the same run,
//! list latency over a large seeded table, and the server's peak resident memory.
//! Results are JSON lines on stdout; progress goes to stderr.
#![forbid(unsafe_code)]

mod consent;
mod console;
mod datamap;
mod http;
mod load;
mod scan;
mod seed;
mod server;
mod site_client;

use anyhow::{bail, Context, Result};
use clap::Parser;
use load::{MakeRequest, Outcome};
use serde_json::{json, Value};
use server::Server;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// p99 target of every list query, milliseconds.
const LIST_TARGET_MS: f64 = 50.0;
/// Resident-memory target of the server, MB.
pub(crate) const MEMORY_TARGET_MB: f64 = 200.0;
/// Longest a single list query is measured before its sample is cut short.
const LIST_QUERY_CAP: Duration = Duration::from_secs(60);

#[derive(Parser)]
#[command(
    name = "accord-bench",
    about = "Benchmark the accord server (see bench/README.md)"
)]
struct Args {
    /// Which database to run against.
    #[arg(long, default_value = "both", value_parser = ["sqlite", "postgres", "both"])]
    database: String,
    /// Compliance requests seeded before the list-latency queries.
    #[arg(long, default_value_t = 1_000_000)]
    rows: u64,
    /// Seconds of each throughput measurement (health and create, per connection count).
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Connection counts of the throughput measurements.
    #[arg(long, value_delimiter = ',', default_value = "16,64")]
    connections: Vec<usize>,
    /// Measured requests per list query.
    #[arg(long = "list-requests", default_value_t = 200)]
    list_requests: usize,
    /// Concurrent clients sending the list queries (1 = sequential latency).
    #[arg(long = "list-clients", default_value_t = 1)]
    list_clients: usize,
    /// The server binary; default: `accord` next to this binary, else target/release/accord.
    #[arg(long = "server-bin")]
    server_bin: Option<PathBuf>,
    /// Maintenance database used to create and drop the PostgreSQL bench database.
    #[arg(
        long = "pg-admin-url",
        env = "ACCORD_BENCH_PG_ADMIN_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    pg_admin_url: String,
    /// Keep the SQLite temp dir and the PostgreSQL database afterwards (to EXPLAIN queries).
    #[arg(long)]
    keep: bool,
    /// Do not pin the server to core 0 and the load generator to core 1.
    #[arg(long = "no-pin")]
    no_pin: bool,
    /// Run only one part: `consent` (consent-event ingestion, no seeding or lists),
    /// `datamap` (record of processing over 200 data systems and 2,000 attributes) or
    /// `lists` (seeding and the list queries), `site-client` (the site client in headless
    /// Chromium: time to the consent defaults and to `concord-ready`) or `scan` (tracker
    /// scans per minute by the static and the browser engine, and the memory of each) or
    /// `console` (seeding, then the web console's main pages signed in as the owner).
    #[arg(long, value_parser = ["consent", "datamap", "lists", "site-client", "scan", "console"])]
    only: Option<String>,
    /// Measured page loads of the site-client benchmark.
    #[arg(long = "site-loads", default_value_t = 20)]
    site_loads: usize,
    /// Deep scans each engine runs with `--only scan`.
    #[arg(long, default_value_t = 5)]
    scans: usize,
}

fn main() {
    let args = Args::parse();
    // Pin before the runtime starts so that every worker thread inherits the core.
    let pinned = !args.no_pin && server::has_taskset() && num_cpus_total() >= 2;
    if pinned {
        if let Err(e) = server::pin_self(1) {
            eprintln!("warning: {e:#}; running unpinned");
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    if let Err(e) = rt.block_on(run(args, pinned)) {
        eprintln!("accord-bench: {e:#}");
        std::process::exit(1);
    }
}

fn num_cpus_total() -> usize {
    std::fs::read_to_string("/proc/cpuinfo")
        .map(|s| s.lines().filter(|l| l.starts_with("processor")).count())
        .unwrap_or(1)
}

fn server_binary(args: &Args) -> Result<PathBuf> {
    if let Some(p) = &args.server_bin {
        return Ok(p.clone());
    }
    let exe = std::env::current_exe()?;
    let sibling = exe.with_file_name("accord");
    let in_release = exe
        .parent()
        .and_then(|d| d.file_name())
        .is_some_and(|n| n == "release");
    if in_release && sibling.exists() {
        return Ok(sibling);
    }
    let fallback = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/release/accord");
    if fallback.exists() {
        return Ok(fallback);
    }
    bail!(
        "server binary not found; run `cargo build --release -p accord` first or pass --server-bin"
    )
}

async fn run(args: Args, pinned: bool) -> Result<()> {
    let bin = server_binary(&args)?;
    if cfg!(debug_assertions) {
        eprintln!("warning: accord-bench is a debug build; the load generator may be the bottleneck (use --release)");
    }
    eprintln!(
        "accord-bench: server {} | rows {} | {} s per throughput run | connections {:?} | {}",
        bin.display(),
        args.rows,
        args.duration,
        args.connections,
        if pinned {
            "server on core 0, load generator on core 1"
        } else {
            "unpinned"
        }
    );
    let built = std::fs::metadata(&bin)
        .and_then(|m| m.modified())
        .ok()
        .map(|t| {
            chrono::DateTime::<chrono::Utc>::from(t)
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        });
    emit(json!({
        "bench": "meta",
        "server_bin": bin.display().to_string(),
        "server_bin_modified": built,
        "rows": args.rows,
        "duration_s": args.duration,
        "connections": args.connections,
        "list_requests": args.list_requests,
        "list_clients": args.list_clients,
        "pinned": pinned,
        "cpus": num_cpus_total(),
    }));
    if args.only.as_deref() == Some("scan") {
        eprintln!("== scan engines (sqlite)");
        return scan::run(&bin, pinned, args.scans.max(1)).await;
    }
    let databases: &[&str] = match args.database.as_str() {
        "sqlite" => &["sqlite"],
        "postgres" => &["postgres"],
        _ => &["sqlite", "postgres"],
    };
    for db in databases {
        eprintln!("== {db}");
        match *db {
            "sqlite" => {
                let dir = tempfile::Builder::new().prefix("accord-bench-").tempdir()?;
                let url = format!("sqlite://{}", dir.path().join("accord.db").display());
                let result = bench_database(&args, &bin, "sqlite", &url, dir.path(), pinned).await;
                if args.keep {
                    eprintln!("  kept {url}");
                    let _ = dir.keep();
                }
                result?;
            }
            _ => {
                let name = format!("accord_bench_{}", uuid::Uuid::new_v4().simple());
                let url = pg_database_url(&args.pg_admin_url, &name)?;
                pg_admin(&args.pg_admin_url, &format!("CREATE DATABASE {name}")).await?;
                let dir = tempfile::Builder::new().prefix("accord-bench-").tempdir()?;
                let result =
                    bench_database(&args, &bin, "postgres", &url, dir.path(), pinned).await;
                let dropped = if args.keep {
                    eprintln!("  kept {url}");
                    Ok(())
                } else {
                    let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    pg_admin(&args.pg_admin_url, &drop).await
                };
                result?;
                dropped?;
            }
        }
    }
    Ok(())
}

/// `admin` with its database name replaced by `name`.
fn pg_database_url(admin: &str, name: &str) -> Result<String> {
    let (base, query) = match admin.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (admin, None),
    };
    let slash = base
        .rfind('/')
        .filter(|i| *i > "postgres://".len())
        .context(
            "--pg-admin-url must name a database, e.g. postgres://postgres@127.0.0.1:5432/postgres",
        )?;
    let mut url = format!("{}/{name}", &base[..slash]);
    if let Some(q) = query {
        url.push('?');
        url.push_str(q);
    }
    Ok(url)
}

async fn pg_admin(admin: &str, sql: &str) -> Result<()> {
    use sqlx::{Connection, Executor};
    let mut conn = sqlx::PgConnection::connect(admin)
        .await
        .with_context(|| format!("connect {admin}"))?;
    conn.execute(sql).await.with_context(|| sql.to_string())?;
    conn.close().await?;
    Ok(())
}

pub(crate) fn emit(v: Value) {
    println!("{v}");
}

pub(crate) fn round(x: f64, digits: i32) -> f64 {
    let m = 10f64.powi(digits);
    (x * m).round() / m
}

/// Samples the server's VmRSS every 200 ms and keeps the maximum (kB).
fn sample_rss(pid: u32) -> (Arc<AtomicU64>, tokio::task::JoinHandle<()>) {
    let max = Arc::new(AtomicU64::new(0));
    let m = max.clone();
    let handle = tokio::spawn(async move {
        loop {
            match server::vm_kb(pid, "VmRSS") {
                Some(kb) => {
                    m.fetch_max(kb, Ordering::Relaxed);
                }
                None => return,
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    (max, handle)
}

/// CPU seconds of the server and of this process while `f` runs, as busy cores.
pub(crate) struct CpuMeter {
    server: String,
    t0: Instant,
    server0: f64,
    client0: f64,
}

impl CpuMeter {
    pub(crate) fn start(pid: u32) -> CpuMeter {
        let server = pid.to_string();
        CpuMeter {
            server0: server::cpu_seconds(&server).unwrap_or(0.0),
            client0: server::cpu_seconds("self").unwrap_or(0.0),
            server,
            t0: Instant::now(),
        }
    }
    /// (server cores busy, load-generator cores busy).
    pub(crate) fn stop(&self) -> (f64, f64) {
        let wall = self.t0.elapsed().as_secs_f64();
        let s = server::cpu_seconds(&self.server).unwrap_or(0.0) - self.server0;
        let c = server::cpu_seconds("self").unwrap_or(0.0) - self.client0;
        (round(s / wall, 2), round(c / wall, 2))
    }
}

async fn bench_database(
    args: &Args,
    bin: &std::path::Path,
    database: &str,
    url: &str,
    data_dir: &std::path::Path,
    pinned: bool,
) -> Result<()> {
    let mut srv = Server::start(bin, url, data_dir, pinned.then_some(0))?;
    eprintln!(
        "  server pid {} on {} (organization {}, project {})",
        srv.pid, srv.addr, srv.boot.organization_id, srv.boot.project_id
    );
    let (max_rss, sampler) = sample_rss(srv.pid);
    let seeded_only = matches!(args.only.as_deref(), Some("lists" | "console"));
    if let Some(only) = args.only.as_deref().filter(|_| !seeded_only) {
        let duration = Duration::from_secs(args.duration);
        let result = match only {
            "datamap" => datamap::measure(database, &srv, args.list_requests).await,
            "site-client" => site_client::measure(database, &srv, args.site_loads).await,
            _ => consent::measure(database, &srv, duration, &args.connections).await,
        };
        sampler.abort();
        if result.is_err() {
            eprintln!("  server log tail:\n{}", srv.log_tail());
        }
        srv.stop()?;
        return result;
    }
    let lists_only = seeded_only;
    let mut result = if lists_only {
        Ok(())
    } else {
        measure_create(args, database, &srv).await
    };
    if result.is_ok() && !lists_only {
        let duration = Duration::from_secs(args.duration);
        result = consent::measure(database, &srv, duration, &args.connections).await;
    }
    if result.is_ok() && !lists_only {
        result = datamap::measure(database, &srv, args.list_requests).await;
    }
    if result.is_ok() && !lists_only {
        result = site_client::measure(database, &srv, args.site_loads).await;
    }
    let mut hwm = server::vm_kb(srv.pid, "VmHWM");
    sampler.abort();
    if result.is_err() {
        eprintln!("  server log tail:\n{}", srv.log_tail());
    }
    srv.stop()?;
    result?;
    let boot = srv.boot.clone();
    let seeded = seed_rows(args, database, url, &boot).await?;
    let mut srv = Server::restart(bin, url, data_dir, pinned.then_some(0), boot)?;
    eprintln!(
        "  server restarted over the seeded database, pid {}",
        srv.pid
    );
    let (max_rss2, sampler) = sample_rss(srv.pid);
    let result = if args.only.as_deref() == Some("console") {
        console::measure(bin, database, url, &srv, &seeded, args.list_requests).await
    } else {
        measure_list(args, database, &srv, &seeded).await
    };
    hwm = hwm.max(server::vm_kb(srv.pid, "VmHWM"));
    let rss = server::vm_kb(srv.pid, "VmRSS");
    sampler.abort();
    if result.is_err() {
        eprintln!("  server log tail:\n{}", srv.log_tail());
    }
    srv.stop()?;
    result?;
    max_rss.fetch_max(max_rss2.load(Ordering::Relaxed), Ordering::Relaxed);
    let hwm_mb = hwm.unwrap_or(0) as f64 / 1024.0;
    emit(json!({
        "bench": "memory",
        "database": database,
        "vm_hwm_mb": round(hwm_mb, 1),
        "max_sampled_rss_mb": round(max_rss.load(Ordering::Relaxed) as f64 / 1024.0, 1),
        "final_rss_mb": round(rss.unwrap_or(0) as f64 / 1024.0, 1),
        "target_mb": MEMORY_TARGET_MB,
        "pass": hwm.is_some() && hwm_mb < MEMORY_TARGET_MB,
    }));
    Ok(())
}

async fn measure_create(args: &Args, database: &str, srv: &Server) -> Result<()> {
    let duration = Duration::from_secs(args.duration);
    let addr = srv.addr;
    let boot = srv.boot.clone();
    let create_path = format!(
        "/privacy-v1/organizations/{}/projects/{}/compliance-requests",
        boot.organization_id, boot.project_id
    );
    let health = Arc::new(http::request("GET", "/privacy-v1/health", None, None));
    let health_make: MakeRequest = {
        let h = health.clone();
        Arc::new(move |_, _| h.to_vec())
    };
    // Warm up connections, allocator and caches before the first measured run.
    load::closed_loop(addr, 16, Duration::from_secs(1), 200, health_make.clone()).await?;

    let run_id = uuid::Uuid::new_v4().simple().to_string();
    for &conns in &args.connections {
        eprintln!("  health, {conns} connections, {} s", args.duration);
        let cpu = CpuMeter::start(srv.pid);
        let h = load::closed_loop(addr, conns, duration, 200, health_make.clone()).await?;
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

        eprintln!("  create, {conns} connections, {} s", args.duration);
        let make: MakeRequest = {
            let path = create_path.clone();
            let key = boot.api_key.clone();
            let run_id = run_id.clone();
            Arc::new(move |worker, seq| {
                let body = format!(
                    r#"{{"request":"view","userEmail":"bench-{run_id}-c{conns}-w{worker}-{seq}@example.com","preverified":true}}"#
                );
                http::request("POST", &path, Some(&key), Some(&body))
            })
        };
        let cpu = CpuMeter::start(srv.pid);
        let c = load::closed_loop(addr, conns, duration, 201, make).await?;
        let (c_srv, c_cli) = cpu.stop();
        check_errors("create", &c)?;
        emit(json!({
            "bench": "create",
            "database": database,
            "connections": conns,
            "duration_s": round(c.elapsed.as_secs_f64(), 2),
            "requests": c.ok,
            "errors": c.errors,
            "rps": round(c.rps(), 1),
            "p50_ms": round(c.p50_ms(), 3),
            "p99_ms": round(c.p99_ms(), 3),
            "baseline_health_rps": round(h.rps(), 1),
            "ratio": round(c.rps() / h.rps().max(f64::MIN_POSITIVE), 4),
            "server_cpu": c_srv,
            "loadgen_cpu": c_cli,
        }));
    }
    Ok(())
}

/// Seeds the table while no server runs, then measures list latency on a server started
/// over the seeded database (as a long-running server would see it).
async fn seed_rows(
    args: &Args,
    database: &str,
    url: &str,
    boot: &server::Bootstrap,
) -> Result<seed::Seeded> {
    let seeded = seed::seed(
        &seed::Target {
            url,
            postgres: database == "postgres",
            organization_id: &boot.organization_id,
            project_id: &boot.project_id,
        },
        args.rows,
    )
    .await?;
    emit(json!({
        "bench": "seed",
        "database": database,
        "rows": seeded.rows,
        "seconds": round(seeded.seconds, 1),
        "rows_per_s": round(seeded.rows as f64 / seeded.seconds.max(1e-9), 0),
        "rows_per_statement": seed::ROWS_PER_STATEMENT,
    }));
    Ok(seeded)
}

async fn measure_list(
    args: &Args,
    database: &str,
    srv: &Server,
    seeded: &seed::Seeded,
) -> Result<()> {
    let addr = srv.addr;
    let boot = srv.boot.clone();
    let create_path = format!(
        "/privacy-v1/organizations/{}/projects/{}/compliance-requests",
        boot.organization_id, boot.project_id
    );
    let rfc = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    let month = format!(
        "startDate={}&endDate={}",
        rfc(seeded.month.0),
        rfc(seeded.month.1)
    );
    // `user{k}` with k = rows/20 matches user{k} and user{10k}..user{10k+9}: 11 rows.
    let k = (args.rows / 20).max(1);
    let email = format!("user{k}");
    // A whole address, as a privacy team pastes it: one row.
    let address = format!("user{k}%40example{}.com", k % 50);
    let org_path = format!(
        "/privacy-v1/organizations/{}/compliance-requests",
        boot.organization_id
    );
    let events_path = format!(
        "/privacy-v1/organizations/{}/projects/{}/compliance-requests-events",
        boot.organization_id, boot.project_id
    );
    let org_events_path = format!(
        "/privacy-v1/organizations/{}/compliance-requests-events",
        boot.organization_id
    );
    let queries: Vec<(&str, String)> = vec![
        ("default", String::new()),
        ("status=submitted", "status=submitted".into()),
        ("request=delete", "request=delete".into()),
        (
            "status+request",
            "status=submitted&status=acknowledged&request=view".into(),
        ),
        ("userEmail", format!("userEmail={email}")),
        ("userEmail=address", format!("userEmail={address}")),
        ("text", format!("text={}", seed::TEXT_NEEDLE)),
        ("startDate..endDate", month.clone()),
        ("sort=requestDate", "sort=requestDate".into()),
        ("sort=dueDate", "sort=dueDate&order=asc".into()),
        ("overdue", "overdue=true".into()),
        (
            "combined",
            format!(
                "status=submitted&request=view&userEmail=example1&text={}&{month}&sort=requestDate",
                seed::TEXT_NEEDLE
            ),
        ),
    ];
    // The same views on the organization's list and on the event lists.
    let elsewhere: Vec<(&str, &str, String)> = vec![
        ("org default", &org_path, String::new()),
        ("org status=submitted", &org_path, "status=submitted".into()),
        ("org overdue", &org_path, "overdue=true".into()),
        ("events default", &events_path, String::new()),
        (
            "events event=status_changed",
            &events_path,
            "event=status_changed".into(),
        ),
        (
            "events complianceRequestId",
            &events_path,
            format!("complianceRequestId={}", seeded.sample_request),
        ),
        ("events startDate..endDate", &events_path, month.clone()),
        ("org events default", &org_events_path, String::new()),
        (
            "org events event=created",
            &org_events_path,
            "event=created".into(),
        ),
    ];
    let all = queries
        .into_iter()
        .map(|(name, qs)| (name, create_path.as_str(), qs))
        .chain(elsewhere);
    for (name, base, qs) in all {
        let path = format!(
            "{base}?{qs}{}limit=100",
            if qs.is_empty() { "" } else { "&" }
        );
        eprintln!("  list {name}: GET {path}");
        let req = http::request("GET", &path, Some(&boot.api_key), None);
        let (o, body) = load::repeated(
            addr,
            req,
            args.list_clients,
            args.list_requests,
            3,
            LIST_QUERY_CAP,
        )
        .await
        .with_context(|| format!("list {name}"))?;
        let page: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let p99 = o.p99_ms();
        emit(json!({
            "bench": "list",
            "database": database,
            "query": name,
            "querystring": format!("{qs}{}limit=100", if qs.is_empty() { "" } else { "&" }),
            "rows": seeded.rows,
            "events": seeded.events,
            "total": page.get("total"),
            "count": page.get("count"),
            "clients": args.list_clients,
            "samples": o.ok,
            "errors": o.errors,
            "p50_ms": round(o.p50_ms(), 2),
            "p99_ms": round(p99, 2),
            "max_ms": round(o.max_ms(), 2),
            "target_ms": LIST_TARGET_MS,
            "pass": o.errors == 0 && o.ok > 0 && p99 < LIST_TARGET_MS,
        }));
    }
    Ok(())
}

pub(crate) fn check_errors(what: &str, o: &Outcome) -> Result<()> {
    if o.errors > 0 {
        eprintln!(
            "  warning: {what}: {} errors (first: {})",
            o.errors,
            o.first_error.as_deref().unwrap_or("?")
        );
    }
    if o.ok == 0 {
        bail!(
            "{what}: no successful request ({})",
            o.first_error.as_deref().unwrap_or("?")
        );
    }
    Ok(())
}
