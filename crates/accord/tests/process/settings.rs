//! Start-up of `accord serve`: every `ACCORD_*` setting is checked before anything starts,
//! and a failure names what failed (the setting, the address, the database).
use crate::common::{accord, free_port};
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
        ("ACCORD_REQUEST_TIMEOUT", "0"),
        ("ACCORD_TRUSTED_PROXIES", "10.0.0.0/8,nowhere"),
        ("ACCORD_CORS_ORIGINS", "admin.example.com"),
        ("ACCORD_SMTP_URL", "http://mail.example.com"),
        ("ACCORD_SMTP_FROM", "nobody"),
        ("ACCORD_SMS_WEBHOOK_URL", "not a url"),
        ("ACCORD_PUBLIC_URL", "ftp://example.com"),
        ("ACCORD_GEO_HEADER", "bad header"),
        ("ACCORD_DATABASE_URL", "mysql://localhost/accord"),
        ("ACCORD_LOG", "=["),
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
    // The flag form is checked the same way.
    let (code, err) = serve_exit(&["--listen", &listen, "--rate-limit-privacy", "x"], &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("ACCORD_RATE_LIMIT_PRIVACY"), "{err}");
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
