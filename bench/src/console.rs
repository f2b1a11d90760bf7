//! Console page server times: the web console's main pages, signed in as the organization's
//! owner, over the seeded compliance requests, each beside the health endpoint measured in
//! the same run (`--only console`).
use crate::load;
use crate::seed::{Seeded, TEXT_NEEDLE};
use crate::server::Server;
use crate::{emit, round};
use anyhow::{bail, Context, Result};
use serde_json::json;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

/// The target of every console page: server time p99 under 50 ms.
const PAGE_TARGET_MS: f64 = 50.0;
/// A page slower than this is cut off.
const PAGE_CAP: Duration = Duration::from_secs(60);
const PASSWORD: &str = "bench console password";

/// One request over a fresh connection (set-up only): the status, the `Set-Cookie` values
/// and the body.
fn exchange(addr: SocketAddr, req: &str) -> Result<(u16, Vec<String>, String)> {
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    s.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let cookies = head
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("set-cookie")
                .then(|| v.trim().split(';').next().unwrap_or("").to_string())
        })
        .collect();
    Ok((status, cookies, body.to_string()))
}

fn form_value(html: &str, name: &str) -> Option<String> {
    let marker = format!(r#"name="{name}" value=""#);
    let start = html.find(&marker)? + marker.len();
    Some(html[start..].split('"').next()?.to_string())
}

fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Creates the owner's console account through the one-time link `accord console-link`
/// prints, and answers the signed-in session's cookie.
fn sign_in(bin: &Path, database: &str, srv: &Server) -> Result<String> {
    let out = std::process::Command::new(bin)
        .args([
            "console-link",
            "--organization",
            &srv.boot.organization_id,
            "--database",
            database,
            "--public-url",
            &format!("http://{}", srv.addr),
        ])
        .output()
        .context("accord console-link")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let path = text
        .split_whitespace()
        .find_map(|w| w.find("/console/setup/").map(|i| w[i..].to_string()))
        .with_context(|| format!("no setup link in: {text}"))?;
    let (status, cookies, page) = exchange(
        srv.addr,
        &format!("GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n"),
    )?;
    if status != 200 {
        bail!("setup page: status {status}");
    }
    let csrf = form_value(&page, "csrf").context("no form token on the setup page")?;
    let form = format!(
        "csrf={}&email=owner%40example.com&name=Owner&password={}",
        encode(&csrf),
        encode(PASSWORD)
    );
    let (status, cookies, body) = exchange(
        srv.addr,
        &format!(
            "POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\norigin: http://127.0.0.1\r\ncookie: {}\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: {}\r\n\r\n{form}",
            cookies.join("; "),
            form.len()
        ),
    )?;
    if status != 303 {
        bail!("setup form: status {status}: {body}");
    }
    cookies
        .into_iter()
        .find(|c| c.starts_with("accord_session="))
        .context("no session cookie after the setup form")
}

pub async fn measure(
    bin: &Path,
    database: &str,
    url: &str,
    srv: &Server,
    seeded: &Seeded,
    samples: usize,
) -> Result<()> {
    let session = sign_in(bin, url, srv)?;
    let org = &srv.boot.organization_id;
    let project = &srv.boot.project_id;
    let inbox = format!("/console/o/{org}/requests");
    let pages: Vec<(&str, String)> = vec![
        ("home", "/console".into()),
        ("inbox", inbox.clone()),
        (
            "inbox status=submitted",
            format!("{inbox}?status=submitted"),
        ),
        ("inbox overdue", format!("{inbox}?overdue=true")),
        ("inbox text", format!("{inbox}?text={TEXT_NEEDLE}")),
        ("inbox request=delete", format!("{inbox}?request=delete")),
        (
            "request page",
            format!(
                "/console/o/{org}/p/{project}/requests/{}",
                seeded.sample_request
            ),
        ),
        ("consent", format!("/console/o/{org}/consent")),
        ("data map", format!("/console/o/{org}/data-map")),
        ("site setup", format!("/console/o/{org}/site")),
        ("settings", format!("/console/o/{org}/settings")),
    ];
    let health = "GET /privacy-v1/health HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n"
        .as_bytes()
        .to_vec();
    let (h, _) = load::repeated(srv.addr, health, 1, samples, 3, PAGE_CAP).await?;
    emit(json!({
        "bench": "console_baseline_health",
        "database": database,
        "samples": h.ok,
        "p50_ms": round(h.p50_ms(), 3),
        "p99_ms": round(h.p99_ms(), 3),
    }));
    for (name, path) in pages {
        eprintln!("  console {name}: GET {path}");
        let req = format!(
            "GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\naccept: text/html\r\ncookie: {session}\r\n\r\n"
        )
        .into_bytes();
        let (o, body) = load::repeated(srv.addr, req, 1, samples, 3, PAGE_CAP)
            .await
            .with_context(|| format!("console {name}"))?;
        let p99 = o.p99_ms();
        emit(json!({
            "bench": "console_page",
            "database": database,
            "page": name,
            "path": path,
            "rows": seeded.rows,
            "bytes": body.len(),
            "samples": o.ok,
            "errors": o.errors,
            "p50_ms": round(o.p50_ms(), 2),
            "p99_ms": round(p99, 2),
            "max_ms": round(o.max_ms(), 2),
            "baseline_health_p99_ms": round(h.p99_ms(), 3),
            "target_ms": PAGE_TARGET_MS,
            "pass": o.errors == 0 && o.ok > 0 && p99 < PAGE_TARGET_MS,
        }));
    }
    Ok(())
}
