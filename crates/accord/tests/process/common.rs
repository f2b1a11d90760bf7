//! Shared helpers: fresh databases (SQLite file or PostgreSQL database) and free ports.

/// Admin URL of the PostgreSQL server the tests create databases on.
pub fn postgres_admin_url() -> String {
    std::env::var("ACCORD_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A fresh database URL, or `None` when PostgreSQL is unreachable outside CI (with
/// `CI=true` that is a failure).
pub async fn database(postgres: bool, dir: &std::path::Path) -> Option<String> {
    if !postgres {
        return Some(format!("sqlite://{}/accord.db", dir.display()));
    }
    use sqlx::{Connection, Executor};
    sqlx::any::install_default_drivers();
    let mut conn = match sqlx::AnyConnection::connect(&postgres_admin_url()).await {
        Ok(c) => c,
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("PostgreSQL unreachable with CI=true: {e}")
        }
        Err(e) => {
            eprintln!("skipping PostgreSQL variant: {e}");
            return None;
        }
    };
    let name = format!("accord_process_{}", uuid::Uuid::new_v4().simple());
    conn.execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .unwrap();
    let (base, _) = postgres_admin_url()
        .rsplit_once('/')
        .map(|(a, _)| (a.to_string(), ()))
        .unwrap();
    Some(format!("{base}/{name}"))
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `accord serve` child process.
pub struct Served {
    pub child: std::process::Child,
    /// Lines printed on stdout before the server answered its health check.
    pub lines: Vec<String>,
    /// Every stderr line so far (the JSON log).
    pub stderr: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

/// The `accord` binary with no setting inherited from the environment except a quiet log.
pub fn accord() -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_accord"));
    for (k, _) in std::env::vars() {
        if k.starts_with("ACCORD_") {
            c.env_remove(k);
        }
    }
    c.env("ACCORD_LOG", "warn");
    c
}

/// Starts `accord serve --listen 127.0.0.1:{port} {args}` in `dir` with `envs`, and waits
/// until its health endpoint answers.
pub async fn serve(
    dir: &std::path::Path,
    port: u16,
    args: &[&str],
    envs: &[(&str, &str)],
) -> Served {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let mut child = accord()
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(args)
        .envs(envs.iter().copied())
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let stderr: std::sync::Arc<std::sync::Mutex<Vec<String>>> = Default::default();
    let sink = stderr.clone();
    let err = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    let client = reqwest::Client::new();
    let health = format!("http://127.0.0.1:{port}/privacy-v1/health");
    for _ in 0..400 {
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "accord serve exited with {status}: {:?}",
                stderr.lock().unwrap()
            );
        }
        if client.get(&health).send().await.is_ok() {
            // The lines were printed before the server listened, but the thread reading
            // them may not have passed them on yet on a busy machine: collect until none
            // has come for a moment.
            let mut lines = Vec::new();
            let mut quiet = 0;
            while quiet < 10 {
                match rx.try_recv() {
                    Ok(line) => {
                        lines.push(line);
                        quiet = 0;
                    }
                    Err(_) => {
                        quiet += 1;
                        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
                    }
                }
            }
            return Served {
                child,
                lines,
                stderr,
            };
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    panic!(
        "accord serve did not answer within 20 s: {:?}",
        stderr.lock().unwrap()
    );
}

/// Sends `signal` (`-TERM`, `-KILL`) and returns the exit code once the process is gone.
pub fn stop(child: &mut std::process::Child, signal: &str) -> i32 {
    std::process::Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    for _ in 0..200 {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code().unwrap_or(-1);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = child.kill();
    panic!("server did not stop on {signal}");
}

/// The owner key, organization id and project id of the bootstrap lines `serve` prints on
/// an empty database (the third is the console link of the owner's account).
pub fn bootstrap_of(lines: &[String]) -> (String, String, String) {
    assert_eq!(lines.len(), 3, "bootstrap lines: {lines:?}");
    assert!(
        lines[2].starts_with("Accord console: create the owner's account at http://127.0.0.1:"),
        "{lines:?}"
    );
    let key = lines[1]
        .strip_prefix("Accord bootstrap: apiKey=")
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("no key in {lines:?}"))
        .to_string();
    let (org, project) = lines[0]
        .strip_prefix("Accord bootstrap: organizationId=")
        .and_then(|rest| rest.split_once(" projectId="))
        .unwrap_or_else(|| panic!("no ids in {lines:?}"));
    (key, org.to_string(), project.to_string())
}
