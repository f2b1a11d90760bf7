//! The listener facing slow and careless clients: connections that stop sending are closed
//! within the header and body time-outs while health keeps answering, the connection cap
//! holds, keep-alive works, and the HTTP layer's own refusals of a request head (400, 414,
//! 431) carry the §1.5 body and an `x-request-id` (§1.1). SQLite and PostgreSQL.
use crate::common::{bootstrap_of, database, free_port, serve, stop, Served};
use serde_json::{json, Value};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// `ACCORD_HEADER_TIMEOUT` and `ACCORD_BODY_TIMEOUT` of these servers, in seconds.
const TIMEOUT: u64 = 2;
/// Allowance on top of a time-out for the server's timers on a busy machine.
const SLACK: Duration = Duration::from_secs(3);

const MALFORMED: &str = "request line or header fields are not valid HTTP/1.1";
const URI_TOO_LONG: &str = "URI exceeds the maximum length of 8192 bytes";
const HEAD_TOO_LARGE: &str =
    "request line and header fields exceed the maximum size of 65536 bytes or 100 fields";

/// One answer as read from the socket.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(&self.body)))
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Reads one answer (its head and its `content-length` body) from `stream`.
fn read_answer(stream: &mut TcpStream) -> Result<Answer, String> {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i + 4;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => {
                return Err(format!(
                    "no complete answer: {:?}",
                    String::from_utf8_lossy(&buf)
                ))
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status line: {head:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < len {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return Err(format!("body cut short: {head:?}")),
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    Ok(Answer {
        status,
        headers,
        body,
    })
}

/// Sends `request` on a new connection and reads the answer.
fn exchange(addr: &str, request: &[u8]) -> Result<Answer, String> {
    let mut stream = TcpStream::connect(addr).unwrap();
    // A refused head may be answered before all of it was sent.
    let _ = stream.write_all(request);
    read_answer(&mut stream)
}

/// Whether the server closes `stream` (end of stream or reset) before `deadline`; what it
/// still sends is dropped.
fn closed_before(stream: &mut TcpStream, deadline: Instant) -> bool {
    let mut chunk = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut chunk) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false
            }
            Err(_) => return true,
        }
    }
}

/// The §1.5 body, the JSON content type and a made request id.
fn assert_refused(answer: &Result<Answer, String>, status: u16, error: &str, message: &str) {
    let answer = answer.as_ref().unwrap();
    assert_eq!(answer.status, status, "{answer:?}");
    assert_eq!(
        answer.json(),
        json!({"statusCode": status, "error": error, "message": message})
    );
    assert_eq!(
        answer.header("content-type"),
        Some("application/json; charset=utf-8"),
        "{answer:?}"
    );
    let id = answer.header("x-request-id").expect("an x-request-id");
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
}

fn connect(addr: &str, first_bytes: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(first_bytes.as_bytes()).unwrap();
    stream
}

async fn start(
    postgres: bool,
    dir: &std::path::Path,
    envs: &[(&str, &str)],
) -> Option<(Served, String)> {
    let db = database(postgres, dir).await?;
    let port = free_port();
    let served = serve(dir, port, &["--database", &db], envs).await;
    Some((served, format!("127.0.0.1:{port}")))
}

/// 50 connections that send nothing, 200 that stop inside their head, 50 that stop inside
/// their body, and one idle after a complete exchange: health answers at once meanwhile,
/// and each of them is closed within its time-out (the stalled bodies answered 408).
async fn slow_clients_are_dropped(postgres: bool) {
    let dir = tempfile::tempdir().unwrap();
    let timeout = TIMEOUT.to_string();
    let envs = [
        ("ACCORD_HEADER_TIMEOUT", timeout.as_str()),
        ("ACCORD_BODY_TIMEOUT", timeout.as_str()),
        ("ACCORD_RATE_LIMIT_PRIVACY", "0"),
    ];
    let Some((
        Served {
            mut child, lines, ..
        },
        addr,
    )) = start(postgres, dir.path(), &envs).await
    else {
        return;
    };
    let (key, org, project) = bootstrap_of(&lines);
    let events = format!("/privacy-v1/organizations/{org}/projects/{project}/consent-events");

    let silent: Vec<TcpStream> = (0..50).map(|_| connect(&addr, "")).collect();
    let heads: Vec<TcpStream> = (0..200)
        .map(|i| {
            connect(
                &addr,
                &format!("GET /privacy-v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nx-slow-{i}: "),
            )
        })
        .collect();
    let bodies: Vec<TcpStream> = (0..50)
        .map(|_| {
            connect(
                &addr,
                &format!(
                    "POST {events} HTTP/1.1\r\nHost: 127.0.0.1\r\nx-api-key: {key}\r\n\
                     content-type: application/json\r\ncontent-length: 1000\r\n\r\n{{\"items\": ["
                ),
            )
        })
        .collect();
    let mut idle = connect(
        &addr,
        "GET /privacy-v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    );
    let first = read_answer(&mut idle);
    let last_byte = Instant::now();

    let client = reqwest::Client::new();
    let mut slowest = Duration::ZERO;
    let mut health = Vec::new();
    for _ in 0..20 {
        let asked = Instant::now();
        let res = client
            .get(format!("http://{addr}/privacy-v1/health"))
            .timeout(Duration::from_secs(5))
            .send()
            .await;
        slowest = slowest.max(asked.elapsed());
        health.push(res.map(|r| r.status().as_u16()).map_err(|e| e.to_string()));
    }

    let deadline = last_byte + Duration::from_secs(TIMEOUT) + SLACK;
    let failures = tokio::task::spawn_blocking(move || {
        let mut failures = Vec::new();
        for (kind, streams) in [("silent", silent), ("head", heads), ("idle", vec![idle])] {
            let open = streams
                .into_iter()
                .filter_map(|mut s| (!closed_before(&mut s, deadline)).then_some(()))
                .count();
            if open > 0 {
                failures.push(format!("{open} {kind} connections still open"));
            }
        }
        for mut s in bodies {
            match read_answer(&mut s) {
                Ok(a) if a.status == 408 && a.header("x-request-id").is_some() => {}
                other => failures.push(format!("a stalled body got {other:?}")),
            }
            if !closed_before(&mut s, deadline) {
                failures.push("a stalled body's connection is still open".into());
            }
        }
        failures
    })
    .await
    .unwrap();
    stop(&mut child, "-KILL");
    assert_eq!(first.map(|a| a.status), Ok(200));
    assert!(
        health.iter().all(|h| h == &Ok(200)),
        "health under slow clients: {health:?}"
    );
    assert!(
        slowest < Duration::from_secs(1),
        "health took {slowest:?} under slow clients"
    );
    assert!(failures.is_empty(), "{failures:?}");
}

/// With every connection slot held by a slow client, a new client waits in the backlog
/// until the header time-out frees a slot, and is then answered.
async fn the_connection_cap_holds(postgres: bool) {
    let dir = tempfile::tempdir().unwrap();
    let timeout = TIMEOUT.to_string();
    let envs = [
        ("ACCORD_HEADER_TIMEOUT", timeout.as_str()),
        ("ACCORD_MAX_CONNECTIONS", "16"),
    ];
    let Some((
        Served {
            mut child, stderr, ..
        },
        addr,
    )) = start(postgres, dir.path(), &envs).await
    else {
        return;
    };
    let slow: Vec<TcpStream> = (0..16)
        .map(|_| {
            connect(
                &addr,
                "GET /privacy-v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n",
            )
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let asked = Instant::now();
    let res = reqwest::Client::new()
        .get(format!("http://{addr}/privacy-v1/health"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .map(|r| r.status().as_u16());
    let waited = asked.elapsed();
    drop(slow);
    stop(&mut child, "-KILL");
    assert_eq!(res.map_err(|e| e.to_string()), Ok(200));
    assert!(
        waited >= Duration::from_secs(1) && waited < Duration::from_secs(TIMEOUT) + SLACK,
        "answered after {waited:?}"
    );
    let log = stderr.lock().unwrap().join("\n");
    assert!(log.contains("connection limit reached"), "{log}");
}

/// The refusals of a request head that no route sees: malformed (400), too long a target
/// (414), too large a head (431). A head within the limits is served, and keep-alive
/// connections serve several requests before a refusal on them.
async fn refusals_carry_the_error_body(postgres: bool) {
    let dir = tempfile::tempdir().unwrap();
    let Some((Served { mut child, .. }, addr)) = start(postgres, dir.path(), &[]).await else {
        return;
    };
    let get = |target: &str, headers: &str| {
        format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}\r\n").into_bytes()
    };
    let malformed = exchange(&addr, &get("/privacy-v1/health", "no colon here\r\n"));
    let bad_method = exchange(
        &addr,
        b"G\x01T /privacy-v1/health HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    let big_header = format!("x-big: {}\r\n", "b".repeat(70_000));
    let too_large = exchange(&addr, &get("/privacy-v1/health", &big_header));
    let many: String = (0..101).map(|i| format!("x-h{i}: v\r\n")).collect();
    let too_many = exchange(&addr, &get("/privacy-v1/health", &many));
    let long_target = format!("/privacy-v1/health?q={}", "q".repeat(9000));
    let long = exchange(&addr, &get(&long_target, ""));
    let huge_target = format!("/privacy-v1/health?q={}", "q".repeat(100_000));
    let huge = exchange(&addr, &get(&huge_target, ""));
    let cookie = format!("cookie: c={}\r\n", "c".repeat(30_000));
    let within = exchange(&addr, &get("/privacy-v1/health", &cookie));

    let mut kept = TcpStream::connect(&addr).unwrap();
    let mut on_kept = Vec::new();
    for request in [
        get("/privacy-v1/health", ""),
        get("/site-v1/health", ""),
        get("/privacy-v1/health", "bad\x01name: v\r\n"),
    ] {
        let _ = kept.write_all(&request);
        on_kept.push(read_answer(&mut kept));
    }
    let kept_closed = closed_before(&mut kept, Instant::now() + SLACK);
    stop(&mut child, "-KILL");

    assert_refused(&malformed, 400, "Bad Request", MALFORMED);
    assert_refused(&bad_method, 400, "Bad Request", MALFORMED);
    let large = "Request Header Fields Too Large";
    assert_refused(&too_large, 431, large, HEAD_TOO_LARGE);
    assert_refused(&too_many, 431, large, HEAD_TOO_LARGE);
    assert_refused(&long, 414, "URI Too Long", URI_TOO_LONG);
    assert_refused(&huge, 431, large, HEAD_TOO_LARGE);
    assert_eq!(within.map(|a| a.status), Ok(200));
    assert_eq!(on_kept[0].as_ref().map(|a| a.status), Ok(200));
    assert_eq!(on_kept[1].as_ref().map(|a| a.status), Ok(200));
    assert_refused(&on_kept[2], 400, "Bad Request", MALFORMED);
    assert!(kept_closed, "the connection stays open after a refusal");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_dropped_sqlite() {
    slow_clients_are_dropped(false).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_dropped_postgres() {
    slow_clients_are_dropped(true).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_cap_holds_sqlite() {
    the_connection_cap_holds(false).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_cap_holds_postgres() {
    the_connection_cap_holds(true).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_carry_the_error_body_sqlite() {
    refusals_carry_the_error_body(false).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_carry_the_error_body_postgres() {
    refusals_carry_the_error_body(true).await
}
