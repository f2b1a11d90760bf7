//! Start-up of `accord serve`: every `ACCORD_*` setting is checked before anything starts,
//! and a failure names what failed (the setting, the address, the database).
use crate::common::{accord, free_port, serve, stop};
use std::time::{Duration, Instant};

/// Runs `accord serve` to its exit (it must exit by itself) and returns code and stderr.
fn serve_exit(args: &[&str], envs: &[(&str, &str)]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = accord()
        .arg("serve")
        .args(args)
        .envs(envs.iter().copied())
        .current_dir(dir.path())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn a_bad_setting_stops_serve_naming_it() {
    let port = free_port().to_string();
    let listen = format!("127.0.0.1:{port}");
    for (name, value) in [
        ("ACCORD_RATE_LIMIT_PRIVACY", "lots"),
        ("ACCORD_RATE_LIMIT_SITE", "-1"),
        ("ACCORD_BODY_TIMEOUT", "0"),
        ("ACCORD_HEADER_TIMEOUT", "0"),
        ("ACCORD_MAX_CONNECTIONS", "none"),
        ("ACCORD_BODY_MEMORY", "0"),
        ("ACCORD_TRUSTED_PROXIES", "10.0.0.0/8,nowhere"),
        ("ACCORD_CORS_ORIGINS", "admin.example.com"),
        ("ACCORD_SMTP_URL", "http://mail.example.com"),
        ("ACCORD_SMTP_FROM", "nobody"),
        ("ACCORD_SMS_WEBHOOK_URL", "not a url"),
        ("ACCORD_PUBLIC_URL", "ftp://example.com"),
        ("ACCORD_GEO_HEADER", "bad header"),
        ("ACCORD_DATABASE_URL", "mysql://localhost/accord"),
        ("ACCORD_LOG", "=["),
        ("ACCORD_SCAN_ALLOW_PRIVATE", "perhaps"),
        ("ACCORD_SCAN_TIMEOUT", "0"),
        ("ACCORD_SCAN_TIMEOUT", "301"),
        ("ACCORD_SCAN_ENGINE", "chrome"),
    ] {
        let (code, err) = serve_exit(&["--listen", &listen], &[(name, value)]);
        assert_eq!(code, 1, "{name}={value}: {err}");
        assert!(
            err.contains(&format!("invalid setting {name}")),
            "{name}={value}: {err}"
        );
    }
    let (code, err) = serve_exit(
        &["--listen", &listen],
        &[("ACCORD_GEOIP_DB", "/nonexistent/city.mmdb")],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("ACCORD_GEOIP_DB"), "{err}");
    // The browser engine needs its Chromium.
    let (code, err) = serve_exit(
        &["--listen", &listen],
        &[
            ("ACCORD_SCAN_ENGINE", "browser"),
            ("ACCORD_SCAN_BROWSER", "/nonexistent/chromium"),
        ],
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("ACCORD_SCAN_BROWSER: /nonexistent/chromium is not a file"),
        "{err}"
    );
    // The flag form is a usage error (exit 2) with the same rule.
    let (code, err) = serve_exit(&["--listen", &listen, "--rate-limit-privacy", "x"], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--rate-limit-privacy"), "{err}");
    // A value that may hold a password is never echoed.
    let (code, err) = serve_exit(
        &["--listen", &listen],
        &[("ACCORD_SMTP_URL", "http://user:hunter2@mail.example.com")],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("invalid setting ACCORD_SMTP_URL"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}

#[tokio::test]
async fn empty_settings_mean_unset() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let empty = [
        "ACCORD_CORS_ORIGINS",
        "ACCORD_TRUSTED_PROXIES",
        "ACCORD_SMTP_URL",
        "ACCORD_SMS_WEBHOOK_URL",
        "ACCORD_PUBLIC_URL",
        "ACCORD_GEO_HEADER",
        "ACCORD_GEOIP_DB",
        "ACCORD_METRICS_LISTEN",
        "ACCORD_S3_BUCKET",
    ];
    let mut envs: Vec<(&str, &str)> = empty.iter().map(|n| (*n, "")).collect();
    envs.push(("ACCORD_TRUSTED_PROXIES", "127.0.0.1,"));
    let mut served = serve(dir.path(), port, &[], &envs).await;
    assert_eq!(served.lines.len(), 3, "{:?}", served.lines);
    assert_eq!(stop(&mut served.child, "-TERM"), 0);
}

#[test]
fn a_busy_port_is_named() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (code, err) = serve_exit(&["--listen", &addr], &[]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!("cannot listen on {addr} (ACCORD_LISTEN)")),
        "{err}"
    );
    let (code, err) = serve_exit(
        &[
            "--listen",
            &format!("127.0.0.1:{}", free_port()),
            "--metrics-listen",
            &addr,
        ],
        &[],
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!("cannot listen on {addr} (ACCORD_METRICS_LISTEN)")),
        "{err}"
    );
}

#[test]
fn an_unreachable_database_is_reported_at_once_without_its_password() {
    // Nothing listens on port 1.
    let started = Instant::now();
    let (code, err) = serve_exit(
        &[
            "--listen",
            &format!("127.0.0.1:{}", free_port()),
            "--database",
            "postgres://accord:hunter2@127.0.0.1:1/accord",
        ],
        &[],
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    assert!(
        err.contains("cannot connect to the database at postgres://accord:***@127.0.0.1:1/accord"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
}
