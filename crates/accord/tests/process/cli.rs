//! The `accord` command line (§9.3), run as a real process on SQLite and PostgreSQL.
use crate::common::{accord, bootstrap_of, database, free_port, serve, stop, Served};
use serde_json::Value;

fn run(args: &[&str]) -> (i32, String, String) {
    let out = accord().args(args).output().expect("run accord");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

async fn migrate_bootstrap_and_keys(postgres: bool) {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = database(postgres, dir.path()).await else {
        return;
    };
    let (code, out, _) = run(&["migrate", "--database", &db]);
    assert_eq!(code, 0);
    // Every migration of this version runs once on an empty database.
    let n: usize = out
        .trim()
        .strip_prefix("applied ")
        .and_then(|r| r.strip_suffix(" migrations"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected output: {out}"));
    assert!(n >= 2, "{out}");
    let (code, out, _) = run(&["migrate", "--database", &db]);
    assert_eq!(
        (code, out.trim()),
        (0, "applied 0 migrations"),
        "idempotent"
    );

    let (code, out, err) = run(&[
        "bootstrap",
        "--organization-name",
        "Acme",
        "--project-name",
        "Shop",
        "--domain",
        "shop.example.com",
        "--database",
        &db,
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 1);
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    let obj = v.as_object().unwrap();
    assert_eq!(
        obj.keys().cloned().collect::<Vec<_>>(),
        ["organizationId", "projectId", "apiKey"]
    );
    assert!(v["apiKey"].as_str().unwrap().starts_with("ak_"));
    let org = v["organizationId"].as_str().unwrap().to_string();

    let (code, out, _) = run(&[
        "bootstrap",
        "--organization-name",
        "Second",
        "--project-name",
        "P",
        "--database",
        &db,
    ]);
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("Accord bootstrap: organizationId=")
            && lines[0].contains(" projectId="),
        "{out}"
    );
    assert!(
        lines[1].starts_with("Accord bootstrap: apiKey=ak_")
            && lines[1].ends_with(" (shown once; store it now)")
    );

    let (code, out, _) = run(&[
        "api-key",
        "create",
        "--organization",
        &org,
        "--role",
        "viewer",
        "--database",
        &db,
    ]);
    assert_eq!(code, 0);
    assert!(out.trim().starts_with("apiKey=ak_"));
    let (code, out, _) = run(&[
        "api-key",
        "create",
        "--organization",
        &org,
        "--role",
        "admin",
        "--name",
        "ops",
        "--database",
        &db,
        "--json",
    ]);
    assert_eq!(code, 0);
    let key: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(key["role"], "admin");
    assert_eq!(key["name"], "ops");
    assert_eq!(key["organizationId"], org);
    assert_eq!(key["apiKey"].as_str().unwrap().len(), 46);
    let (code, _, err) = run(&[
        "api-key",
        "create",
        "--organization",
        &uuid::Uuid::new_v4().to_string(),
        "--role",
        "viewer",
        "--database",
        &db,
    ]);
    assert_eq!(code, 1, "{err}");
    let (code, _, _) = run(&[
        "api-key",
        "create",
        "--organization",
        &org,
        "--role",
        "god",
        "--database",
        &db,
    ]);
    assert_eq!(code, 2);
}

#[tokio::test]
async fn migrate_bootstrap_and_keys_sqlite() {
    migrate_bootstrap_and_keys(false).await
}

#[tokio::test]
async fn migrate_bootstrap_and_keys_postgres() {
    migrate_bootstrap_and_keys(true).await
}

#[test]
fn usage_and_scheme_errors() {
    assert_eq!(run(&["frobnicate"]).0, 2);
    let (code, _, err) = run(&["migrate", "--database", "mysql://localhost/x"]);
    assert_eq!(code, 1);
    assert!(err.contains("unsupported database URL scheme"), "{err}");
    let (code, out, _) = run(&["--version"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("accord "));
}

#[tokio::test]
async fn serve_bootstraps_once_on_the_default_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let Served {
        mut child, lines, ..
    } = serve(dir.path(), port, &[], &[]).await;
    assert_eq!(lines.len(), 3, "{lines:?}");
    let (key, org, project) = bootstrap_of(&lines);
    // The console link opens the owner's account form on this server.
    let link = lines[2]
        .split(" at ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .unwrap();
    assert!(
        link.starts_with(&format!("http://127.0.0.1:{port}/console/setup/")),
        "{link}"
    );
    let page = reqwest::get(link).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page
        .text()
        .await
        .unwrap()
        .contains("Create the owner account"));
    assert!(dir.path().join("accord-data/accord.db").exists());
    assert!(dir.path().join("accord-data/files").is_dir());
    assert!(dir.path().join("accord-data/outbox").is_dir());
    let url = format!("http://127.0.0.1:{port}/privacy-v1/organizations/{org}/projects/{project}/compliance-requests");
    let res = reqwest::Client::new()
        .get(&url)
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(stop(&mut child, "-TERM"), 0, "graceful shutdown exits 0");
    let Served {
        mut child, lines, ..
    } = serve(dir.path(), port, &[], &[]).await;
    assert!(
        lines.is_empty(),
        "the key is never printed again: {lines:?}"
    );
    let res = reqwest::Client::new()
        .get(&url)
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "data survived the restart");
    assert_eq!(stop(&mut child, "-TERM"), 0);
}
